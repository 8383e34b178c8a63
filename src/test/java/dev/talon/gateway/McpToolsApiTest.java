package dev.talon.gateway;

import static dev.talon.testing.McpFixtures.npmServer;
import static dev.talon.testing.McpFixtures.quoted;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.helpers.ResponseAccumulator;
import com.openai.models.responses.McpToolCallError;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseOutputItem;
import com.openai.models.responses.ResponseStreamEvent;
import dev.talon.gateway.ResponsesSseTest.Event;
import dev.talon.gateway.ResponsesSseTest.Sse;
import dev.talon.testing.McpFixtures;
import dev.talon.testing.Request;
import dev.talon.testing.Script;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * MCP tools on the wire, end to end: a Talon node whose agents may call the tools of npm's
 * {@code server-everything}, a fake model that asks for them, and clients that see the calls as
 * OpenAI's hosted MCP tool shows them (Responses), as markers (Chat Completions), in transcripts,
 * and through the official OpenAI Java SDK; a person approves or turns down a call.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class McpToolsApiTest {
  /** The default agent may call every tool of {@code everything}; {@code careful} asks a person before echoing. */
  private static final String CONFIG = """
      { agents: { defaults: { model: { primary: "local/a" }, tools: { allow: ["everything/*"] } },
                  list: [{ id: "main", default: true },
                         { id: "careful", tools: { requireApproval: ["everything/echo"] } }] },
        models: { mode: "replace", providers: {
          local: { baseUrl: "%%1$s", apiKey: "sk-local", api: "openai-responses", models: [{ id: "a" }] } } },
        talon: { mcp: { servers: { everything: { command: %s } } } } }
      """;
  private static final String ECHO = "everything__echo";

  @TempDir static Path dataDir;
  TalonApi api;
  OpenAIClient sdk;

  @BeforeAll
  void startNode() throws Exception {
    api = TalonApi.start(dataDir, TalonApi.TOKEN, CONFIG.formatted(quoted(npmServer("mcp-server-everything"))));
    sdk = OpenAIOkHttpClient.builder().baseUrl(api.baseUrl()).apiKey(TalonApi.TOKEN).maxRetries(0).build();
  }

  @AfterAll
  void stopNode() throws Exception {
    if (sdk != null) {
      sdk.close();
    }
    if (api != null) {
      api.close();
    }
  }

  /** Each test enqueues the model's tool calls; given the tools' results, the model repeats them. */
  @BeforeEach
  void answerWithTheResults() {
    api.fake.setDefault(McpToolsApiTest::answer);
  }

  private static Script answer(Request request) {
    List<String> results = new ArrayList<>();
    request.body().path("input").forEach(item -> {
      if (item.path("type").asText().equals("function_call_output")) {
        results.add(item.path("output").asText());
      }
    });
    return Script.reply(results.isEmpty() ? "No tool needed." : "The tools said: " + String.join(" | ", results));
  }

  private static Script echo(String message) {
    return Script.reply().toolCall(ECHO, "{\"message\":" + quoted(message) + "}");
  }

  // ---- Responses ------------------------------------------------------------------------------

  @Test
  void aStreamedResponseShowsTheListingTheCallAndThenTheAnswer() throws Exception {
    api.fake.enqueue(echo("hello tools"));
    List<Event> events;
    try (Sse sse = responses("{\"model\":\"openclaw\",\"input\":\"Echo hello tools\",\"stream\":true}")) {
      events = sse.rest();
    }
    ResponsesSseTest.assertFraming(events, 0);
    List<String> types = ResponsesSseTest.types(events).stream()
        .filter(type -> !type.equals("response.output_text.delta")).toList();
    assertEquals(List.of("response.created", "response.in_progress",
        "response.output_item.added", "response.mcp_list_tools.in_progress", "response.mcp_list_tools.completed",
        "response.output_item.done",
        "response.output_item.added", "response.mcp_call_arguments.delta", "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress", "response.mcp_call.completed", "response.output_item.done",
        "response.output_item.added", "response.content_part.added", "response.output_text.done",
        "response.content_part.done", "response.output_item.done", "response.completed"), types);
    assertFalse(types.contains("response.function_call_arguments.delta"), "the client is not to run the call");

    List<JsonNode> done = itemsDone(events);
    JsonNode listing = done.get(0);
    assertEquals("mcp_list_tools", listing.path("type").asText());
    assertTrue(listing.path("id").asText().startsWith("mcpl_"), listing.toString());
    assertEquals("everything", listing.path("server_label").asText());
    assertTrue(listing.path("error").isNull());
    JsonNode echoTool = StreamSupport.stream(listing.path("tools").spliterator(), false)
        .filter(tool -> tool.path("name").asText().equals("echo")).findFirst().orElseThrow();
    assertEquals("string", echoTool.at("/input_schema/properties/message/type").asText(), echoTool.toString());
    assertTrue(echoTool.has("annotations"));

    JsonNode call = done.get(1);
    assertEquals("mcp_call", call.path("type").asText());
    assertTrue(call.path("id").asText().startsWith("mcp_"), call.toString());
    assertEquals("everything", call.path("server_label").asText());
    assertEquals("echo", call.path("name").asText(), "the tool's own name, not the function's");
    assertEquals("{\"message\":\"hello tools\"}", call.path("arguments").asText());
    assertEquals("Echo: hello tools", call.path("output").asText());
    assertTrue(call.path("error").isNull());
    assertEquals("completed", call.path("status").asText());
    JsonNode added = events.get(6).data();
    assertEquals("in_progress", added.at("/item/status").asText());
    assertEquals("{\"message\":\"hello tools\"}", events.get(7).data().path("delta").asText());

    assertEquals("The tools said: Echo: hello tools", ResponsesSseTest.deltas(events));
    JsonNode response = events.get(events.size() - 1).data().path("response");
    assertEquals("completed", response.path("status").asText());
    assertEquals(done, list(response.path("output")), "the response holds every item, in order");

    // The model was called again with the call and its result.
    JsonNode followUp = api.fake.requests().get(api.fake.requests().size() - 1).body().path("input");
    JsonNode output = followUp.get(followUp.size() - 1);
    assertEquals("function_call_output", output.path("type").asText());
    assertEquals("Echo: hello tools", output.path("output").asText());
    assertEquals(ECHO, followUp.get(followUp.size() - 2).path("name").asText());

    // Read back, from the conversation's memory and, after the next turn, from what it keeps.
    String id = response.path("id").asText();
    assertEquals(response.path("output"), TalonApi.json(api.get("/v1/responses/" + id)).path("output"));
    String session = response.at("/talon/session_key").asText();
    assertEquals(200, api.post("/v1/responses", "{\"model\":\"openclaw\",\"input\":\"Thanks\"}",
        TurnRequest.SESSION_HEADER, session).statusCode());
    JsonNode stored = TalonApi.json(api.get("/v1/responses/" + id));
    assertEquals(list(response.path("output")).subList(1, 3), list(stored.path("output")),
        "the same items, but the listing, which is not kept");
  }

  @Test
  void aTranscriptShowsTheCallsWithTheirOutcome() throws Exception {
    api.fake.enqueue(echo("for the record"));
    String session = "mcp-transcript-" + UUID.randomUUID();
    assertEquals(200, api.post("/v1/responses", "{\"model\":\"openclaw\",\"input\":\"Echo it\"}",
        TurnRequest.SESSION_HEADER, session).statusCode());
    JsonNode turn = TalonApi.json(api.get("/v1/conversations/" + session)).path("turns").path(0);
    JsonNode call = turn.path("output").path(0);
    assertEquals("mcp_call", call.path("type").asText());
    assertEquals("everything", call.path("server_label").asText());
    assertEquals("echo", call.path("name").asText());
    assertEquals("completed", call.path("status").asText());
    assertEquals("Echo: for the record", call.path("output").asText());
    assertNotNull(call.path("call_id").textValue());
    assertEquals("The tools said: Echo: for the record", turn.path("output").path(1).path("content").asText());
  }

  @Test
  void aCancelledTurnShowsTheCallItCutOff() throws Exception {
    api.fake.enqueue(Script.reply().toolCall("everything__trigger-long-running-operation",
        "{\"duration\":30,\"steps\":3}"));
    List<Event> rest;
    JsonNode created;
    try (Sse sse = responses("{\"model\":\"openclaw\",\"input\":\"Take your time\",\"stream\":true}")) {
      created = sse.next().data().path("response");
      until(sse, "response.mcp_call.in_progress");
      String id = created.path("id").asText();
      assertEquals(200, api.post("/v1/responses/" + id + "/cancel", "").statusCode());
      rest = sse.rest();
    }
    assertEquals(List.of("response.mcp_call.failed", "response.output_item.done", "response.failed"),
        ResponsesSseTest.types(rest), "the call's item ends with the turn");
    JsonNode call = itemsDone(rest).get(0);
    assertEquals("incomplete", call.path("status").asText());
    assertEquals("cancelled", rest.get(2).data().at("/response/status").asText());

    // Read back once the next turn ran, from what the conversation keeps: the call, as it ended.
    String id = created.path("id").asText();
    assertEquals(200, api.post("/v1/responses", "{\"model\":\"openclaw\",\"input\":\"Never mind\"}",
        TurnRequest.SESSION_HEADER, created.at("/talon/session_key").asText()).statusCode());
    List<JsonNode> replayed = new ArrayList<>();
    for (String line : api.get("/v1/responses/" + id + "?stream=true").body().split("\n")) {
      if (line.startsWith("data: ")) {
        replayed.add(McpFixtures.json(line.substring("data: ".length())));
      }
    }
    JsonNode stored = replayed.stream().filter(event -> event.path("type").asText().equals("response.output_item.done"))
        .map(event -> event.path("item")).findFirst().orElseThrow();
    assertEquals("incomplete", stored.path("status").asText());
    assertTrue(stored.at("/error/content/0/text").asText().startsWith("The call was cut off"), stored.toString());
    assertEquals("cancelled", replayed.get(replayed.size() - 1).at("/response/status").asText());
  }

  // ---- Chat Completions -----------------------------------------------------------------------

  @Test
  void aChatStreamTellsTheCallsInMarkersNeverAsToolCalls() throws Exception {
    api.fake.enqueue(echo("hello chat"));
    HttpResponse<String> response = api.post("/v1/chat/completions",
        "{\"model\":\"openclaw\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Echo hello chat\"}]}");
    assertEquals(200, response.statusCode());
    assertTrue(response.headers().firstValue(TurnRequest.SESSION_HEADER).isPresent(),
        "a keyless turn of an agent that acts is stored, in a conversation of its own");
    List<String> data = ChatCompletionsSseTest.data(response);
    assertEquals("[DONE]", data.get(data.size() - 1));
    List<JsonNode> chunks = new ArrayList<>();
    for (String chunk : data.subList(0, data.size() - 1)) {
      chunks.add(TalonApi.JSON.readTree(chunk));
    }
    chunks.forEach(chunk -> assertTrue(chunk.at("/choices/0/delta/tool_calls").isMissingNode(), chunk.toString()));
    List<String> markers = chunks.stream().flatMap(chunk -> chunk.has("talon")
        ? Stream.of(chunk.path("talon").fieldNames().next()) : Stream.empty()).toList();
    assertEquals(List.of("tools_listed", "tool_call", "tool_result"), markers);

    JsonNode listed = marker(chunks, "tools_listed");
    assertEquals("everything", listed.path("server_label").asText());
    assertTrue(listed.path("tools").size() > 1, listed.toString());
    JsonNode started = marker(chunks, "tool_call");
    assertEquals("echo", started.path("name").asText());
    assertEquals("{\"message\":\"hello chat\"}", started.path("arguments").asText());
    JsonNode result = marker(chunks, "tool_result");
    assertEquals(started.path("call_id"), result.path("call_id"));
    assertEquals("completed", result.path("status").asText());
    assertEquals("Echo: hello chat", result.path("output").asText());
    chunks.stream().filter(chunk -> chunk.has("talon"))
        .forEach(chunk -> assertEquals(0, chunk.at("/choices/0/delta").size(), "a marker's delta is empty"));

    StringBuilder text = new StringBuilder();
    chunks.forEach(chunk -> text.append(chunk.at("/choices/0/delta/content").asText("")));
    assertEquals("The tools said: Echo: hello chat", text.toString());
    assertEquals("stop", chunks.get(chunks.size() - 1).at("/choices/0/finish_reason").asText());
  }

  @Test
  void aChatCompletionHoldsTheAnswerAndTheCallsApart() throws Exception {
    api.fake.enqueue(echo("not streamed"));
    HttpResponse<String> response = api.post("/v1/chat/completions",
        "{\"model\":\"openclaw\",\"messages\":[{\"role\":\"user\",\"content\":\"Echo\"}]}");
    assertEquals(200, response.statusCode());
    JsonNode completion = TalonApi.json(response);
    JsonNode message = completion.at("/choices/0/message");
    assertEquals("The tools said: Echo: not streamed", message.path("content").asText());
    assertTrue(message.path("tool_calls").isMissingNode(), message.toString());
    assertEquals("stop", completion.at("/choices/0/finish_reason").asText());
    JsonNode call = completion.at("/talon/tool_calls/0");
    assertEquals("echo", call.path("name").asText());
    assertEquals("completed", call.path("status").asText());
    assertEquals("Echo: not streamed", call.path("output").asText());
  }

  @Test
  void storeFalseIsRefusedForAnAgentThatActs() throws Exception {
    for (String[] request : List.of(
        new String[] {"/v1/chat/completions", "{\"model\":\"openclaw\",\"store\":false,"
            + "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}"},
        new String[] {"/v1/responses", "{\"model\":\"openclaw\",\"store\":false,\"input\":\"Hi\"}"})) {
      HttpResponse<String> response = api.post(request[0], request[1]);
      assertEquals(400, response.statusCode(), request[0]);
      JsonNode error = TalonApi.json(response).path("error");
      assertEquals("invalid_request_error", error.path("type").asText());
      assertTrue(error.path("message").asText().contains("store: false is not available"), error.toString());
    }
  }

  // ---- approvals ------------------------------------------------------------------------------

  @Test
  void anApprovedCallRuns() throws Exception {
    api.fake.enqueue(echo("may I"));
    try (Sse sse = responses("{\"model\":\"careful\",\"input\":\"Echo may I\",\"stream\":true}")) {
      JsonNode approval = until(sse, "talon.approval_required").data();
      String id = approval.path("response_id").asText();
      String callId = approval.path("call_id").asText();
      assertEquals("everything", approval.path("server_label").asText());
      assertEquals("echo", approval.path("name").asText());
      assertEquals("{\"message\":\"may I\"}", approval.path("arguments").asText());
      assertEquals("/v1/responses/" + id + "/approve", approval.path("approve_path").asText());

      HttpResponse<String> approved = api.post(approval.path("approve_path").asText(), "{}");
      assertEquals(200, approved.statusCode(), approved.body());
      assertEquals(id, TalonApi.json(approved).path("response_id").asText());
      assertEquals(List.of(callId), list(TalonApi.json(approved).path("decided")).stream()
          .map(JsonNode::asText).toList());
      assertTrue(TalonApi.json(approved).path("approved").asBoolean());

      List<Event> rest = sse.rest();
      assertEquals("response.output_item.added", rest.get(0).type(), "the call starts once approved");
      JsonNode call = itemsDone(rest).get(0);
      assertEquals("Echo: may I", call.path("output").asText());
      assertEquals(callId, call.path("approval_request_id").asText(), "the item names the approval it waited for");

      HttpResponse<String> again = api.post(approval.path("approve_path").asText(), "{\"call_id\":\"" + callId + "\"}");
      assertEquals(409, again.statusCode(), "the call was decided already");
      assertEquals("nothing_to_approve", TalonApi.json(again).at("/error/code").asText());
    }
  }

  @Test
  void aCallTurnedDownIsToldToTheModel() throws Exception {
    api.fake.enqueue(echo("not this one"));
    List<Event> events;
    try (Sse sse = responses("{\"model\":\"careful\",\"input\":\"Echo\",\"stream\":true}")) {
      JsonNode approval = until(sse, "talon.approval_required").data();
      HttpResponse<String> denied = api.post(approval.path("approve_path").asText(),
          "{\"approve\":false,\"reason\":\"not today\",\"call_id\":\"" + approval.path("call_id").asText() + "\"}");
      assertEquals(200, denied.statusCode(), denied.body());
      assertFalse(TalonApi.json(denied).path("approved").asBoolean());
      events = sse.rest();
    }
    List<String> types = ResponsesSseTest.types(events);
    assertEquals(List.of("response.output_item.added", "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done", "response.mcp_call.failed", "response.output_item.done"),
        types.subList(0, 5), "never started: added and ended at once");
    JsonNode call = itemsDone(events).get(0);
    assertEquals("failed", call.path("status").asText());
    assertTrue(call.path("output").isNull());
    String told = "Refused, not run: a person turned the call down: not today";
    assertEquals("mcp_tool_execution_error", call.at("/error/type").asText());
    assertEquals(told, call.at("/error/content/0/text").asText());
    assertEquals("The tools said: " + told, ResponsesSseTest.deltas(events));
  }

  @Test
  void aChatClientIsToldWhereToApprove() throws Exception {
    api.fake.enqueue(echo("chat asks"));
    HttpResponse<Stream<String>> response = api.http.sendAsync(api.request("/v1/chat/completions")
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(
            "{\"model\":\"careful\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"Echo\"}]}"))
        .build(), HttpResponse.BodyHandlers.ofLines()).get(60, TimeUnit.SECONDS);
    assertEquals(200, response.statusCode());
    try (Stream<String> lines = response.body()) {
      Iterator<JsonNode> chunks = lines.filter(line -> line.startsWith("data: {"))
          .map(line -> McpFixtures.json(line.substring("data: ".length()))).iterator();
      JsonNode approval = null;
      while (approval == null && chunks.hasNext()) {
        approval = chunks.next().path("talon").get("approval_required");
      }
      assertNotNull(approval, "the stream asks for approval");
      assertEquals("echo", approval.path("name").asText());
      HttpResponse<String> approved = api.post(approval.path("approve_path").asText(), "");
      assertEquals(200, approved.statusCode(), approved.body());
      StringBuilder text = new StringBuilder();
      List<String> markers = new ArrayList<>();
      chunks.forEachRemaining(chunk -> {
        text.append(chunk.at("/choices/0/delta/content").asText(""));
        chunk.path("talon").fieldNames().forEachRemaining(markers::add);
      });
      assertEquals(List.of("tool_call", "tool_result"), markers);
      assertEquals("The tools said: Echo: chat asks", text.toString());
    }
  }

  @Test
  void theApproveEndpointChecksWhatItIsGiven() throws Exception {
    assertEquals(404, api.post("/v1/responses/resp_nothing/approve", "{}").statusCode());
    String unknown = api.ids.of("mcp-nobody-" + UUID.randomUUID(), UUID.randomUUID().toString());
    HttpResponse<String> missing = api.post("/v1/responses/" + unknown + "/approve", "{}");
    assertEquals(404, missing.statusCode(), missing.body());
    assertEquals("response_not_found", TalonApi.json(missing).at("/error/code").asText());

    HttpResponse<String> typo = api.post("/v1/responses/" + unknown + "/approve", "{\"approved\":false}");
    assertEquals(400, typo.statusCode(), "a misspelt answer must not approve anything");
    assertEquals("approved", TalonApi.json(typo).at("/error/param").asText());
    assertEquals(400, api.post("/v1/responses/" + unknown + "/approve", "{\"approve\":\"no\"}").statusCode());
    assertEquals(400, api.post("/v1/responses/" + unknown + "/approve", "[true]").statusCode());
    HttpResponse<String> anonymous = api.http.send(HttpRequest.newBuilder(
        URI.create(api.baseUrl() + "/responses/" + unknown + "/approve")).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(401, anonymous.statusCode());
  }

  // ---- the OpenAI SDK -------------------------------------------------------------------------

  @Test
  void theOpenAiSdkReadsTheCallsStreamedAndStored() {
    api.fake.enqueue(echo("from the sdk").toolCall("everything__no_such_tool", "{}"));
    ResponseAccumulator accumulator = ResponseAccumulator.create();
    List<ResponseStreamEvent> events = new ArrayList<>();
    try (StreamResponse<ResponseStreamEvent> stream = sdk.responses().createStreaming(ResponseCreateParams.builder()
        .model("openclaw").input("Echo from the sdk").build())) {
      stream.stream().forEach(event -> {
        events.add(event);
        accumulator.accumulate(event);
      });
    }
    // Every field of the MCP events and items as the SDK's types say. (The response's usage lacks
    // input_tokens_details.cache_write_tokens, which this SDK's strict check requires.)
    events.stream().filter(event -> !event.isCompleted()).forEach(ResponseStreamEvent::validate);
    assertTrue(events.stream().anyMatch(ResponseStreamEvent::isMcpListToolsCompleted));
    assertTrue(events.stream().anyMatch(ResponseStreamEvent::isMcpCallArgumentsDone));
    assertTrue(events.stream().anyMatch(ResponseStreamEvent::isMcpCallCompleted));
    assertTrue(events.stream().anyMatch(ResponseStreamEvent::isMcpCallFailed));
    Response response = accumulator.response();
    List<ResponseOutputItem> output = response.output();
    output.forEach(ResponseOutputItem::validate);
    ResponseOutputItem.McpListTools listing = output.get(0).asMcpListTools();
    assertEquals("everything", listing.serverLabel());
    assertTrue(listing.tools().stream().anyMatch(tool -> tool.name().equals("echo")));
    List<ResponseOutputItem.McpCall> calls = output.stream().filter(ResponseOutputItem::isMcpCall)
        .map(ResponseOutputItem::asMcpCall).toList();
    ResponseOutputItem.McpCall echo = calls.stream().filter(call -> call.name().equals("echo")).findFirst()
        .orElseThrow();
    assertEquals("Echo: from the sdk", echo.output().orElseThrow());
    assertEquals(ResponseOutputItem.McpCall.Status.COMPLETED, echo.status().orElseThrow());
    assertTrue(echo.error().isEmpty());
    ResponseOutputItem.McpCall refused = calls.stream().filter(call -> call.name().equals("no_such_tool"))
        .findFirst().orElseThrow();
    assertEquals(ResponseOutputItem.McpCall.Status.FAILED, refused.status().orElseThrow());
    McpToolCallError error = refused.error().orElseThrow();
    assertTrue(error.isToolExecution(), error.toString());
    assertTrue(error.asToolExecution()._content().toString().contains("Refused, not run"), error.toString());
    assertTrue(OpenAiSdkTest.text(response).startsWith("The tools said: "), OpenAiSdkTest.text(response));

    Response stored = sdk.responses().retrieve(response.id());
    assertEquals(output, stored.output());
  }

  // ---- helpers --------------------------------------------------------------------------------

  private Sse responses(String body) throws Exception {
    HttpResponse<Stream<String>> response = api.http.sendAsync(api.request("/v1/responses")
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)).build(),
        HttpResponse.BodyHandlers.ofLines()).get(60, TimeUnit.SECONDS);
    assertEquals(200, response.statusCode());
    return new Sse(response);
  }

  /** Reads the stream up to the first event of {@code type}, which must come. */
  private static Event until(Sse sse, String type) throws Exception {
    for (Event event = sse.next(); event != null; event = sse.next()) {
      if (event.type().equals(type)) {
        return event;
      }
    }
    throw new AssertionError("the stream ended without " + type);
  }

  private static List<JsonNode> itemsDone(List<Event> events) {
    return events.stream().filter(event -> event.type().equals("response.output_item.done"))
        .map(event -> event.data().path("item")).toList();
  }

  private static JsonNode marker(List<JsonNode> chunks, String name) {
    return chunks.stream().filter(chunk -> chunk.path("talon").has(name)).findFirst().orElseThrow()
        .path("talon").path(name);
  }

  private static List<JsonNode> list(JsonNode array) {
    List<JsonNode> out = new ArrayList<>();
    array.forEach(out::add);
    return out;
  }
}
