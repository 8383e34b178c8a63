package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.helpers.ResponseAccumulator;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.responses.FunctionTool;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseFunctionToolCall;
import com.openai.models.responses.ResponseInputImage;
import com.openai.models.responses.ResponseInputItem;
import com.openai.models.responses.ResponseOutputItem;
import com.openai.models.responses.ResponseStreamEvent;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.conversation.InputItem;
import dev.talon.conversation.OutputItem;
import dev.talon.testing.ErrorBodies;
import dev.talon.testing.Script;
import dev.talon.upstream.ModelRequest;
import dev.talon.upstream.ModelRequest.Role;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The official OpenAI Java SDK against a real Talon node: Talon is a drop-in endpoint. */
class OpenAiSdkTest extends OnANode {
  OpenAIClient client;

  @BeforeAll
  void connect() {
    client = OpenAIOkHttpClient.builder().baseUrl(api.baseUrl()).apiKey(TalonApi.TOKEN).maxRetries(0).build();
  }

  @AfterAll
  void disconnect() {
    client.close();
  }

  static String text(Response response) {
    StringBuilder out = new StringBuilder();
    for (ResponseOutputItem item : response.output()) {
      item.message().ifPresent(message -> message.content().forEach(content ->
          content.outputText().ifPresent(text -> out.append(text.text()))));
    }
    return out.toString();
  }

  /** Talon's extension object on a response: session key, models tried, switches. */
  @SuppressWarnings("unchecked")
  static java.util.Map<String, JsonValue> talon(Response response) {
    return (java.util.Map<String, JsonValue>) response._additionalProperties().get("talon").asObject().orElseThrow();
  }

  static String sessionOf(Response response) {
    return talon(response).get("session_key").asStringOrThrow();
  }

  /** Streams a response; returns the accumulated response and the text of the deltas of items that completed. */
  record Streamed(Response response, String completedText, List<String> itemStatuses) {}

  Streamed stream(ResponseCreateParams params) {
    return stream(client, params);
  }

  static Streamed stream(OpenAIClient client, ResponseCreateParams params) {
    ResponseAccumulator accumulator = ResponseAccumulator.create();
    StringBuilder open = new StringBuilder();
    StringBuilder completed = new StringBuilder();
    List<String> statuses = new ArrayList<>();
    try (StreamResponse<ResponseStreamEvent> stream = client.responses().createStreaming(params)) {
      stream.stream().forEach(event -> {
        accumulator.accumulate(event);
        event.outputTextDelta().ifPresent(delta -> open.append(delta.delta()));
        event.outputItemDone().ifPresent(done -> done.item().message().ifPresent(message -> {
          String status = message.status().asString();
          statuses.add(status);
          if (status.equals("completed")) {
            completed.append(open);
          }
          open.setLength(0); // an incomplete item's text is void: the next model starts over
        }));
      });
    }
    return new Streamed(accumulator.response(), completed.toString(), statuses);
  }

  @Test
  void responsesNonStreaming() throws Exception {
    api.fake.enqueue(Script.reply("Hello from model a.").usage(12, 5));
    Response response = client.responses().create(ResponseCreateParams.builder().model("openclaw")
        .instructions("Be brief.").input("Say hello").build());
    assertEquals("Hello from model a.", text(response));
    assertEquals("local/a", response.model().asString());
    assertEquals(12, response.usage().get().inputTokens());
    assertEquals(5, response.usage().get().outputTokens());

    Turn turn = api.transcript(sessionOf(response)).turns().get(0);
    assertEquals(List.of(new InputItem.Message(Role.USER, "Say hello")), turn.input());
    assertEquals(List.of(new OutputItem.Text("Hello from model a.")), turn.result().output());
    assertEquals("Be brief.", api.fake.requests().get(api.fake.requests().size() - 1).body().path("instructions")
        .asText());
  }

  @Test
  void anSdkImageIsAcceptedAndATextOnlyModelGetsANote() throws Exception {
    api.fake.enqueue(Script.reply("I cannot see it."));
    String png = "data:image/png;base64,iVBORw0KGgo=";
    Response response = client.responses().create(ResponseCreateParams.builder().model("openclaw")
        .inputOfResponse(List.of(ResponseInputItem.ofMessage(ResponseInputItem.Message.builder()
            .role(ResponseInputItem.Message.Role.USER).addInputTextContent("What is this?")
            .addContent(ResponseInputImage.builder().imageUrl(png).detail(ResponseInputImage.Detail.AUTO).build())
            .build())))
        .build());
    assertEquals("I cannot see it.", text(response));
    assertEquals("What is this?\n[image omitted: this model cannot see images]", api.fake.requests()
        .get(api.fake.requests().size() - 1).body().path("input").path(0).path("content").path(0).path("text").asText(),
        "local/a reads text only");
    InputItem journaled = api.transcript(sessionOf(response)).turns().get(0).input().get(0);
    assertEquals(new ModelRequest.Image(png, "auto"), ((ModelRequest.Message) journaled.toModelItem()).content().get(1));
  }

  @Test
  void responsesStreaming() {
    api.fake.enqueue(Script.reply("Streaming works, token by token."));
    Streamed streamed = stream(ResponseCreateParams.builder().model("fast").input("Stream please").build());
    assertEquals("Streaming works, token by token.", streamed.completedText());
    assertEquals("Streaming works, token by token.", text(streamed.response()));
    assertEquals("completed", streamed.response().status().get().asString());
    assertEquals("local/a", streamed.response().model().asString());
  }

  @Test
  void aConversationContinuesByPreviousResponseId() {
    api.fake.enqueue(Script.reply("My name is Talon."), Script.reply("I said: Talon."));
    Response first = client.responses().create(ResponseCreateParams.builder().model("openclaw")
        .input("What is your name?").build());
    Response second = client.responses().create(ResponseCreateParams.builder().model("openclaw")
        .previousResponseId(first.id()).input("What did you say?").build());
    assertEquals("I said: Talon.", text(second));
    assertEquals(List.of("user: What is your name?", "assistant: My name is Talon.", "user: What did you say?"),
        lastUpstreamInput());
  }

  @Test
  void aConversationContinuesBySessionKey() {
    api.fake.enqueue(Script.reply("Noted: blue."), Script.reply("Blue."));
    ResponseCreateParams.Builder params = ResponseCreateParams.builder().model("openclaw")
        .putAdditionalHeader("x-talon-session-key", "sdk-session-1");
    client.responses().create(params.input("My favourite colour is blue.").build());
    Response second = client.responses().create(params.input("What is my favourite colour?").build());
    assertEquals("Blue.", text(second));
    assertEquals(List.of("user: My favourite colour is blue.", "assistant: Noted: blue.",
        "user: What is my favourite colour?"), lastUpstreamInput());
  }

  @Test
  void aFunctionCallRoundTrip() throws Exception {
    api.fake.enqueue(Script.reply().toolCall("get_weather", "{\"city\":\"Paris\"}"),
        Script.reply("It is sunny in Paris."));
    FunctionTool weather = FunctionTool.builder().name("get_weather").description("Current weather")
        .parameters(FunctionTool.Parameters.builder().putAdditionalProperty("type", JsonValue.from("object"))
            .putAdditionalProperty("properties", JsonValue.from(java.util.Map.of("city",
                java.util.Map.of("type", "string")))).build())
        .strict(false).build();
    Response call = client.responses().create(ResponseCreateParams.builder().model("openclaw")
        .input("Weather in Paris?").addTool(weather).build());
    ResponseFunctionToolCall toolCall = call.output().get(0).functionCall().orElseThrow();
    assertEquals("get_weather", toolCall.name());
    assertEquals("{\"city\":\"Paris\"}", toolCall.arguments());
    assertEquals("get_weather", api.fake.requests().get(api.fake.requests().size() - 1).body().path("tools")
        .path(0).path("name").asText());

    Response answer = client.responses().create(ResponseCreateParams.builder().model("openclaw")
        .previousResponseId(call.id()).addTool(weather)
        .inputOfResponse(List.of(ResponseInputItem.ofFunctionCallOutput(ResponseInputItem.FunctionCallOutput.builder()
            .callId(toolCall.callId()).output("{\"sky\":\"sunny\"}").build())))
        .build());
    assertEquals("It is sunny in Paris.", text(answer));
    var input = api.fake.requests().get(api.fake.requests().size() - 1).body().path("input");
    assertEquals(List.of("message", "function_call", "function_call_output"),
        StreamSupport.stream(input.spliterator(), false).map(i -> i.path("type").asText("message")).toList());
    assertEquals(toolCall.callId(), input.path(2).path("call_id").asText());
  }

  @Test
  void chatCompletionsNonStreaming() {
    api.fake.enqueue(Script.reply("Chat answer.").usage(7, 2));
    ChatCompletion completion = client.chat().completions().create(ChatCompletionCreateParams.builder()
        .model("helper").addSystemMessage("Be brief.").addUserMessage("Hi there").build());
    assertEquals("Chat answer.", completion.choices().get(0).message().content().orElseThrow());
    assertEquals("backup/b", completion.model());
    assertEquals(7, completion.usage().orElseThrow().promptTokens());
  }

  @Test
  void chatCompletionsStreamingWithUsage() {
    api.fake.enqueue(Script.reply("Chat streams too.").usage(9, 4));
    StringBuilder text = new StringBuilder();
    List<Long> usage = new ArrayList<>();
    List<String> finish = new ArrayList<>();
    try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(
        ChatCompletionCreateParams.builder().model("backup/b").addUserMessage("Stream it")
            .streamOptions(com.openai.models.chat.completions.ChatCompletionStreamOptions.builder()
                .includeUsage(true).build()).build())) {
      stream.stream().forEach(chunk -> {
        chunk.choices().forEach(choice -> {
          choice.delta().content().ifPresent(text::append);
          choice.finishReason().ifPresent(reason -> finish.add(reason.asString()));
        });
        chunk.usage().ifPresent(u -> usage.add(u.completionTokens()));
      });
    }
    assertEquals("Chat streams too.", text.toString());
    assertEquals(List.of("stop"), finish);
    assertEquals(List.of(4L), usage);
  }

  @Test
  void inRestartModeAFailoverMidStreamEndsThePartialItemAsIncompleteAndTheFallbackAnswers(@TempDir Path ownData)
      throws Exception {
    // A node of its own: the failed primary's cooldown must not reach the other tests.
    try (TalonApi own = TalonApi.start(ownData)) {
      OpenAIClient ownClient = OpenAIOkHttpClient.builder().baseUrl(own.baseUrl()).apiKey(TalonApi.TOKEN)
          .maxRetries(0).build();
      own.fake.enqueue(Script.reply("a partial answer that breaks").dropAfter(2),
          Script.status(500, ErrorBodies.openAiServerError()), Script.reply("The final answer."));
      Streamed streamed = stream(ownClient, ResponseCreateParams.builder().model("openclaw")
          .input("Fail over, please").putAdditionalHeader(TurnRequest.FAILOVER_HEADER, "restart").build());
      assertEquals("The final answer.", streamed.completedText());
      assertEquals(List.of("incomplete", "completed"), streamed.itemStatuses());
      assertEquals("The final answer.", text(streamed.response()));
      assertEquals("backup/b", streamed.response().model().asString());
      assertEquals("[local/a, backup/b]", ((List<?>) talon(streamed.response()).get("models_tried").asArray()
          .orElseThrow()).stream().map(v -> ((JsonValue) v).asStringOrThrow()).toList().toString());

      Turn turn = own.transcript(sessionOf(streamed.response())).turns().get(0);
      assertEquals(List.of(new OutputItem.Text("The final answer.")), turn.result().output());
    }
  }

  @Test
  void aCompactionInTheStreamIsSkippedByTheSdkAndShownInTheResponse() {
    Response first = client.responses().create(ResponseCreateParams.builder().model("openclaw")
        .input("Remember the number 7. " + "filler ".repeat(200)).build());
    api.fake.enqueue(Script.status(400, ErrorBodies.llamaCppContextOverflow(5000, 4096)),
        Script.reply("## Goal\nremember 7"), Script.reply("It was 7."));
    Streamed streamed = stream(ResponseCreateParams.builder().model("openclaw").input("Which number?")
        .putAdditionalHeader(TurnRequest.SESSION_HEADER, sessionOf(first)).build());
    assertEquals("It was 7.", streamed.completedText());
    assertEquals(1, ((List<?>) talon(streamed.response()).get("compactions").asArray().orElseThrow()).size());
    assertTrue(lastUpstreamInput().get(0).contains("remember 7"), lastUpstreamInput().toString());
  }

  /** The last upstream request's conversation as "role: text" lines, whatever its api. */
  List<String> lastUpstreamInput() {
    var body = api.fake.requests().get(api.fake.requests().size() - 1).body();
    var items = body.has("input") ? body.path("input") : body.path("messages");
    return StreamSupport.stream(items.spliterator(), false).map(item -> {
      var content = item.path("content");
      String text = content.isTextual() ? content.asText() : content.path(0).path("text").asText();
      return item.path("role").asText() + ": " + text;
    }).toList();
  }
}
