package dev.talon.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.testing.Script.ArgumentDeltas;
import dev.talon.testing.Script.Finish;
import dev.talon.testing.Script.ReasoningChannel;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The fake's endpoints speak each protocol's grammar; requests are recorded; fixtures replay
 * exactly.
 */
class FakeUpstreamTest {
  private static final Duration WAIT = Duration.ofSeconds(5);
  private static final String RESPONSES_STREAM =
      "{\"model\":\"qwen3-8b\",\"input\":\"Hi\",\"stream\":true}";
  private static final String CHAT_STREAM =
      "{\"model\":\"qwen3-8b\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"stream\":true,"
          + "\"stream_options\":{\"include_usage\":true}}";
  private static final String MESSAGES_STREAM =
      "{\"model\":\"claude-x\",\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"stream\":true}";

  private static ActorSystem<Void> system;

  @BeforeAll
  static void startSystem() {
    system = ActorSystem.create(Behaviors.empty(), "FakeUpstreamTest");
  }

  @AfterAll
  static void stopSystem() {
    system.terminate();
  }

  // ---- Responses ----

  @Test
  void responsesStreamFollowsTheEventGrammar() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("Hello, world"));
      HttpResponse<String> response = TestClient.post(fake, "/v1/responses", RESPONSES_STREAM);

      assertEquals(200, response.statusCode());
      assertTrue(
          response
              .headers()
              .firstValue("content-type")
              .orElseThrow()
              .startsWith("text/event-stream"));
      assertEquals("chunked", response.headers().firstValue("transfer-encoding").orElseThrow());
      assertEquals(
          List.of(
              "response.created",
              "response.in_progress",
              "response.output_item.added",
              "response.content_part.added",
              "response.output_text.delta",
              "response.output_text.delta",
              "response.output_text.delta",
              "response.output_text.done",
              "response.content_part.done",
              "response.output_item.done",
              "response.completed"),
          Sse.types(response.body()));
      List<Sse> frames = Sse.parse(response.body());
      List<JsonNode> events = Sse.json(response.body());
      for (int i = 0; i < events.size(); i++) {
        assertEquals(
            events.get(i).get("type").asText(), frames.get(i).event(), "event: line equals type");
        assertEquals(i, events.get(i).get("sequence_number").asInt());
      }
      assertFalse(response.body().contains("[DONE]"), "OpenAI Responses sends no [DONE]");
      assertEquals(List.of("Hello", ",", " world"), deltas(events, "response.output_text.delta"));
      assertEquals("Hello, world", first(events, "response.output_text.done").get("text").asText());

      JsonNode completed = first(events, "response.completed").get("response");
      assertEquals("completed", completed.get("status").asText());
      assertEquals("qwen3-8b", completed.get("model").asText());
      assertEquals(
          first(events, "response.output_item.done").get("item"), completed.get("output").get(0));
      assertEquals("Hello, world", completed.at("/output/0/content/0/text").asText());
      assertEquals(3, completed.at("/usage/output_tokens").asInt());
      assertEquals(
          fake.requests().get(0).estimatedTokens(), completed.at("/usage/input_tokens").asInt());
      assertTrue(first(events, "response.created").get("response").get("usage").isNull());
    }
  }

  @Test
  void responsesStreamsReasoningTextAndToolCallsAsItemsInOrder() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(
          Script.reply("Checking.")
              .reasoning("User wants weather")
              .toolCall("get_weather", "{\"city\":\"Paris\"}"));
      List<JsonNode> events =
          Sse.json(TestClient.post(fake, "/v1/responses", RESPONSES_STREAM).body());

      List<String> expected =
          new ArrayList<>(
              List.of(
                  "response.created",
                  "response.in_progress",
                  "response.output_item.added",
                  "response.content_part.added"));
      expected.addAll(
          List.of(
              "response.reasoning_text.delta",
              "response.reasoning_text.delta",
              "response.reasoning_text.delta"));
      expected.addAll(
          List.of(
              "response.reasoning_text.done",
              "response.content_part.done",
              "response.output_item.done",
              "response.output_item.added",
              "response.content_part.added",
              "response.output_text.delta",
              "response.output_text.delta",
              "response.output_text.done",
              "response.content_part.done",
              "response.output_item.done",
              "response.output_item.added"));
      expected.addAll(
          List.of(
              "response.function_call_arguments.delta",
              "response.function_call_arguments.delta",
              "response.function_call_arguments.delta",
              "response.function_call_arguments.delta",
              "response.function_call_arguments.delta"));
      expected.addAll(
          List.of(
              "response.function_call_arguments.done",
              "response.output_item.done",
              "response.completed"));
      assertEquals(expected, events.stream().map(e -> e.get("type").asText()).toList());

      List<JsonNode> added = all(events, "response.output_item.added");
      assertEquals(
          List.of("reasoning", "message", "function_call"),
          added.stream().map(e -> e.at("/item/type").asText()).toList());
      assertEquals(
          List.of(0, 1, 2), added.stream().map(e -> e.get("output_index").asInt()).toList());
      assertEquals("", added.get(2).at("/item/arguments").asText());
      assertEquals("get_weather", added.get(2).at("/item/name").asText());
      assertEquals(
          "{\"city\":\"Paris\"}",
          String.join("", deltas(events, "response.function_call_arguments.delta")));
      JsonNode argumentsDone = first(events, "response.function_call_arguments.done");
      assertEquals("{\"city\":\"Paris\"}", argumentsDone.get("arguments").asText());
      assertEquals("get_weather", argumentsDone.get("name").asText());

      JsonNode output = first(events, "response.completed").at("/response/output");
      List<JsonNode> done =
          all(events, "response.output_item.done").stream().map(e -> e.get("item")).toList();
      assertEquals(done, List.of(output.get(0), output.get(1), output.get(2)));
      assertEquals("User wants weather", output.at("/0/content/0/text").asText());
      assertTrue(output.at("/2/call_id").asText().startsWith("call_"));
    }
  }

  @Test
  void responsesReasoningSummaryUsesSummaryParts() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("Ok").reasoning("Think hard").reasoningSummary());
      List<String> types =
          Sse.types(TestClient.post(fake, "/v1/responses", RESPONSES_STREAM).body());

      assertEquals(
          List.of(
              "response.output_item.added",
              "response.reasoning_summary_part.added",
              "response.reasoning_summary_text.delta",
              "response.reasoning_summary_text.delta",
              "response.reasoning_summary_text.done",
              "response.reasoning_summary_part.done",
              "response.output_item.done"),
          types.subList(2, 9));
    }
  }

  @Test
  void responsesArgumentsWithOneDeltaOrOnlyDone() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(
          Script.reply().toolCall("f", "{\"a\":1}").argumentDeltas(ArgumentDeltas.ONE),
          Script.reply().toolCall("f", "{\"a\":1}").argumentDeltas(ArgumentDeltas.NONE));
      List<JsonNode> one =
          Sse.json(TestClient.post(fake, "/v1/responses", RESPONSES_STREAM).body());
      List<JsonNode> none =
          Sse.json(TestClient.post(fake, "/v1/responses", RESPONSES_STREAM).body());

      assertEquals(List.of("{\"a\":1}"), deltas(one, "response.function_call_arguments.delta"));
      assertEquals(List.of(), deltas(none, "response.function_call_arguments.delta"));
      assertEquals(
          "{\"a\":1}",
          first(none, "response.function_call_arguments.done").get("arguments").asText());
      assertEquals(
          "function_call",
          first(none, "response.output_item.added").at("/item/type").asText(),
          "no message item for a tool-only answer");
    }
  }

  @Test
  void responsesLengthCapEndsIncomplete() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("Cut short").finish(Finish.LENGTH));
      List<JsonNode> events =
          Sse.json(TestClient.post(fake, "/v1/responses", RESPONSES_STREAM).body());

      JsonNode last = events.get(events.size() - 1);
      assertEquals("response.incomplete", last.get("type").asText());
      assertEquals("incomplete", last.at("/response/status").asText());
      assertEquals("max_output_tokens", last.at("/response/incomplete_details/reason").asText());
      assertEquals(
          "incomplete", first(events, "response.output_item.done").at("/item/status").asText());
    }
  }

  @Test
  void responsesNonStreamingReturnsTheFinalResponse() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("Hi there").toolCall("f", "{}").usage(11, 7));
      HttpResponse<String> response =
          TestClient.post(
              fake,
              "/v1/responses",
              "{\"model\":\"m\",\"input\":\"Hi\",\"instructions\":\"Be brief\"}");

      assertEquals(200, response.statusCode());
      JsonNode body = Json.parse(response.body());
      assertEquals("response", body.get("object").asText());
      assertEquals("completed", body.get("status").asText());
      assertEquals("Be brief", body.get("instructions").asText());
      assertEquals("Hi there", body.at("/output/0/content/0/text").asText());
      assertEquals("function_call", body.at("/output/1/type").asText());
      assertEquals(11, body.at("/usage/input_tokens").asInt());
      assertEquals(7, body.at("/usage/output_tokens").asInt());
      assertEquals(18, body.at("/usage/total_tokens").asInt());
    }
  }

  // ---- Chat Completions ----

  @Test
  void chatStreamHasRoleChunkDeltasFinishUsageAndDone() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("Hello, world"));
      HttpResponse<String> response = TestClient.post(fake, "/v1/chat/completions", CHAT_STREAM);

      List<Sse> frames = Sse.parse(response.body());
      assertEquals("data: [DONE]\n\n", response.body().substring(response.body().length() - 14));
      assertTrue(frames.stream().allMatch(f -> f.event() == null), "chat frames are data-only");
      List<JsonNode> chunks = Sse.json(response.body());
      assertEquals(6, chunks.size());
      chunks.forEach(c -> assertEquals("chat.completion.chunk", c.get("object").asText()));
      chunks.forEach(c -> assertEquals(chunks.get(0).get("id"), c.get("id")));
      assertEquals("assistant", chunks.get(0).at("/choices/0/delta/role").asText());
      assertEquals(
          List.of("Hello", ",", " world"),
          chunks.subList(1, 4).stream()
              .map(c -> c.at("/choices/0/delta/content").asText())
              .toList());
      assertTrue(
          chunks.get(1).at("/choices/0/delta/role").isMissingNode(),
          "role only on the first chunk");
      assertTrue(chunks.get(1).get("usage").isNull());
      assertEquals("stop", chunks.get(4).at("/choices/0/finish_reason").asText());
      JsonNode usage = chunks.get(5);
      assertEquals(0, usage.get("choices").size());
      assertEquals(3, usage.at("/usage/completion_tokens").asInt());
      assertEquals(
          usage.at("/usage/prompt_tokens").asInt() + 3, usage.at("/usage/total_tokens").asInt());
    }
  }

  @Test
  void chatStreamWithoutIncludeUsageHasNoUsageChunk() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      String body =
          TestClient.post(
                  fake, "/v1/chat/completions", "{\"model\":\"m\",\"messages\":[],\"stream\":true}")
              .body();

      List<JsonNode> chunks = Sse.json(body);
      assertEquals("stop", chunks.get(chunks.size() - 1).at("/choices/0/finish_reason").asText());
      assertTrue(chunks.stream().noneMatch(c -> c.has("usage")));
    }
  }

  @ParameterizedTest
  @ValueSource(ints = {0, 1})
  void chatToolCallsStreamByIndexWithIdAndNameFirst(int indexBase) {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(
          Script.reply()
              .toolCall("get_capital", "{\"country\":\"UK\"}")
              .toolCall("noop", "{}")
              .toolIndexBase(indexBase));
      List<JsonNode> chunks =
          Sse.json(TestClient.post(fake, "/v1/chat/completions", CHAT_STREAM).body());

      List<JsonNode> fragments =
          chunks.stream()
              .filter(c -> c.at("/choices/0/delta/tool_calls").isArray())
              .map(c -> c.at("/choices/0/delta/tool_calls/0"))
              .toList();
      JsonNode first = fragments.get(0);
      assertEquals(indexBase, first.get("index").asInt());
      assertTrue(first.get("id").asText().startsWith("call_"));
      assertEquals("function", first.get("type").asText());
      assertEquals("get_capital", first.at("/function/name").asText());
      assertEquals("", first.at("/function/arguments").asText());
      String arguments =
          fragments.stream()
              .filter(f -> f.get("index").asInt() == indexBase)
              .map(f -> f.at("/function/arguments").asText())
              .reduce("", String::concat);
      assertEquals("{\"country\":\"UK\"}", arguments);
      assertTrue(
          fragments.get(1).at("/function/name").isMissingNode(), "continuations carry no name");
      assertEquals(indexBase + 1, fragments.get(fragments.size() - 1).get("index").asInt());
      JsonNode finish = chunks.get(chunks.size() - 2);
      assertEquals("tool_calls", finish.at("/choices/0/finish_reason").asText());
    }
  }

  @Test
  void chatToolCallWithoutDeltasComesWholeInOneChunk() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(
          Script.reply().toolCall("f", "{\"x\":true}").argumentDeltas(ArgumentDeltas.NONE));
      List<JsonNode> chunks =
          Sse.json(TestClient.post(fake, "/v1/chat/completions", CHAT_STREAM).body());

      List<JsonNode> fragments =
          chunks.stream().filter(c -> c.at("/choices/0/delta/tool_calls").isArray()).toList();
      assertEquals(1, fragments.size());
      assertEquals(
          "{\"x\":true}",
          fragments.get(0).at("/choices/0/delta/tool_calls/0/function/arguments").asText());
    }
  }

  @ParameterizedTest
  @EnumSource(ReasoningChannel.class)
  void chatReasoningArrivesOnTheChosenChannel(ReasoningChannel channel) {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("Answer").reasoning("Hmm ok").reasoningChannel(channel));
      List<JsonNode> chunks =
          Sse.json(TestClient.post(fake, "/v1/chat/completions", CHAT_STREAM).body());

      String content = join(chunks, "/choices/0/delta/content");
      switch (channel) {
        case REASONING_CONTENT -> {
          assertEquals("Hmm ok", join(chunks, "/choices/0/delta/reasoning_content"));
          assertEquals("Answer", content);
        }
        case REASONING -> {
          assertEquals("Hmm ok", join(chunks, "/choices/0/delta/reasoning"));
          assertEquals("Answer", content);
        }
        case THINK_TAGS -> assertEquals("<think>Hmm ok</think>\n\nAnswer", content);
        case THINK_TAGS_WITHOUT_OPEN -> assertEquals("Hmm ok</think>\n\nAnswer", content);
      }
    }
  }

  @Test
  void chatNonStreamingReturnsACompletion() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply().reasoning("why").toolCall("f", "{\"a\":2}"));
      JsonNode body =
          Json.parse(
              TestClient.post(fake, "/v1/chat/completions", "{\"model\":\"m\",\"messages\":[]}")
                  .body());

      assertEquals("chat.completion", body.get("object").asText());
      JsonNode message = body.at("/choices/0/message");
      assertTrue(message.get("content").isNull());
      assertEquals("why", message.get("reasoning_content").asText());
      assertEquals("{\"a\":2}", message.at("/tool_calls/0/function/arguments").asText());
      assertEquals("tool_calls", body.at("/choices/0/finish_reason").asText());
      assertTrue(body.at("/usage/total_tokens").asInt() > 0);
    }
  }

  // ---- Anthropic Messages ----

  @Test
  void messagesStreamFollowsTheAnthropicEventSequence() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("Hi!").reasoning("Greet").toolCall("lookup", "{\"q\":\"x\"}"));
      String body = TestClient.post(fake, "/v1/messages", MESSAGES_STREAM).body();

      List<Sse> frames = Sse.parse(body);
      List<JsonNode> events = Sse.json(body);
      for (int i = 0; i < events.size(); i++) {
        assertEquals(events.get(i).get("type").asText(), frames.get(i).event());
      }
      List<String> described = events.stream().map(FakeUpstreamTest::describeAnthropic).toList();
      assertEquals(
          List.of(
              "message_start",
              "ping",
              "content_block_start:0:thinking",
              "content_block_delta:0:thinking_delta",
              "content_block_delta:0:signature_delta",
              "content_block_stop:0",
              "content_block_start:1:text",
              "content_block_delta:1:text_delta",
              "content_block_delta:1:text_delta",
              "content_block_stop:1",
              "content_block_start:2:tool_use",
              "content_block_delta:2:input_json_delta",
              "content_block_delta:2:input_json_delta",
              "content_block_delta:2:input_json_delta",
              "content_block_delta:2:input_json_delta",
              "content_block_delta:2:input_json_delta",
              "content_block_stop:2",
              "message_delta",
              "message_stop"),
          described);
      assertFalse(body.contains("[DONE]"));
      assertEquals("claude-x", events.get(0).at("/message/model").asText());
      assertTrue(events.get(0).at("/message/stop_reason").isNull());
      assertEquals("lookup", events.get(10).at("/content_block/name").asText());
      assertTrue(events.get(10).at("/content_block/id").asText().startsWith("toolu_"));
      assertEquals("{\"q\":\"x\"}", join(events, "/delta/partial_json"));
      JsonNode messageDelta = events.get(events.size() - 2);
      assertEquals("tool_use", messageDelta.at("/delta/stop_reason").asText());
      assertTrue(messageDelta.at("/usage/output_tokens").asInt() > 0);
    }
  }

  @Test
  void messagesNonStreamingReturnsAMessage() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("Hello").finish(Finish.LENGTH));
      JsonNode body =
          Json.parse(
              TestClient.post(fake, "/v1/messages", "{\"model\":\"c\",\"messages\":[]}").body());

      assertEquals("message", body.get("type").asText());
      assertEquals("assistant", body.get("role").asText());
      assertEquals("Hello", body.at("/content/0/text").asText());
      assertEquals("max_tokens", body.get("stop_reason").asText());
      assertEquals(1, body.at("/usage/output_tokens").asInt());
    }
  }

  // ---- models and health ----

  @Test
  void modelListsFollowEachServersShape() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.models(
              List.of(ServedModel.of("qwen3-8b").contextLength(8192), ServedModel.of("gemma-3")))
          .loaded("qwen3-8b");

      JsonNode openAi = Json.parse(TestClient.get(fake, "/v1/models").body());
      assertEquals("list", openAi.get("object").asText());
      assertEquals(List.of("qwen3-8b", "gemma-3"), openAi.get("data").findValuesAsText("id"));
      assertEquals("system", openAi.at("/data/0/owned_by").asText());

      JsonNode v0 = Json.parse(TestClient.get(fake, "/api/v0/models").body());
      assertEquals("loaded", v0.at("/data/0/state").asText());
      assertEquals("not-loaded", v0.at("/data/1/state").asText());
      assertEquals(8192, v0.at("/data/0/max_context_length").asInt());
      assertEquals("llm", v0.at("/data/0/type").asText());

      fake.modelsShape(ServerKind.LM_STUDIO);
      JsonNode lmStudio = Json.parse(TestClient.get(fake, "/v1/models").body());
      assertFalse(lmStudio.at("/data/0").has("created"));
      fake.modelsShape(ServerKind.VLLM);
      assertEquals(
          8192,
          Json.parse(TestClient.get(fake, "/v1/models").body())
              .at("/data/0/max_model_len")
              .asInt());
      fake.modelsShape(ServerKind.LLAMA_CPP);
      assertEquals(
          8192,
          Json.parse(TestClient.get(fake, "/v1/models").body()).at("/data/0/meta/n_ctx").asInt());
      fake.modelsShape(ServerKind.OLLAMA).models();
      assertTrue(Json.parse(TestClient.get(fake, "/v1/models").body()).get("data").isNull());
    }
  }

  @Test
  void healthIsOkUnlessScripted() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      HttpResponse<String> ok = TestClient.get(fake, "/health");
      assertEquals(200, ok.statusCode());
      assertEquals("ok", Json.parse(ok.body()).get("status").asText());

      fake.health(503, ErrorBodies.llamaCppLoading());
      HttpResponse<String> loading = TestClient.get(fake, "/health");
      assertEquals(503, loading.statusCode());
      assertEquals("Loading model", Json.parse(loading.body()).at("/error/message").asText());
    }
  }

  // ---- scripts and recording ----

  @Test
  void scriptsAreConsumedInOrderThenTheDefaultRepeats() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("one"), Script.reply("two")).setDefault(Script.reply("again"));
      List<String> texts =
          IntStream.range(0, 4)
              .mapToObj(
                  i ->
                      Json.parse(
                          TestClient.post(fake, "/v1/chat/completions", "{\"messages\":[]}")
                              .body()))
              .map(b -> b.at("/choices/0/message/content").asText())
              .toList();

      assertEquals(List.of("one", "two", "again", "again"), texts);
    }
  }

  @Test
  void everyRequestIsRecordedFaultsIncluded() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.status(500, ErrorBodies.openAiServerError()));
      TestClient.post(fake, "/v1/responses", "{\"model\":\"m\",\"input\":\"abcdefgh\"}");
      TestClient.get(fake, "/v1/models");
      TestClient.post(fake, "/v1/unknown", "not json");

      List<Request> requests = fake.awaitRequests(3, WAIT);
      Request first = requests.get(0);
      assertEquals("POST", first.method());
      assertEquals("/v1/responses", first.path());
      assertEquals("Bearer sk-test", first.header("Authorization"));
      assertEquals("application/json", first.header("content-type"));
      assertEquals("abcdefgh", first.body().get("input").asText());
      assertEquals(2, first.estimatedTokens(), "8 chars of text, model excluded");
      assertFalse(first.streaming());
      assertEquals("GET", requests.get(1).method());
      assertTrue(requests.get(1).body().isMissingNode());
      assertEquals("not json", requests.get(2).rawBody());
      assertFalse(requests.get(1).time().isBefore(first.time()));
    }
  }

  @Test
  void awaitRequestsFailsAfterItsTimeout() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      AssertionError error =
          assertThrows(AssertionError.class, () -> fake.awaitRequests(1, Duration.ofMillis(50)));
      assertTrue(error.getMessage().contains("1 requests"));
    }
  }

  @Test
  void concurrentStreamsAreServedAndRecorded() throws Exception {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.setDefault(Script.reply("one two three four").tokenDelay(Duration.ofMillis(10)));
      List<java.util.concurrent.CompletableFuture<String>> calls =
          IntStream.range(0, 20)
              .mapToObj(
                  i ->
                      java.util.concurrent.CompletableFuture.supplyAsync(
                          () -> TestClient.post(fake, "/v1/responses", RESPONSES_STREAM).body()))
              .toList();
      for (var call : calls) {
        List<String> types = Sse.types(call.get(10, java.util.concurrent.TimeUnit.SECONDS));
        assertEquals("response.completed", types.get(types.size() - 1));
      }
      assertEquals(20, fake.awaitRequests(20, WAIT).size());
      assertTrue(
          fake.closedConnections().isEmpty(),
          "streams that ended by themselves are not closed by the client");
    }
  }

  // ---- fixtures ----

  @ParameterizedTest
  @ValueSource(
      strings = {
        "openai-responses-text.sse",
        "openrouter-responses-gptoss-reasoning.sse",
        "deepseek-chat-reasoning-content.sse",
        "groq-chat-reasoning-event-error.sse"
      })
  void sseFixturesReplayByteForByte(String file) throws Exception {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.fixture(file));
      HttpResponse<byte[]> response =
          TestClient.post(
              fake, "/v1/responses", RESPONSES_STREAM, HttpResponse.BodyHandlers.ofByteArray());

      assertEquals(200, response.statusCode());
      assertTrue(
          response
              .headers()
              .firstValue("content-type")
              .orElseThrow()
              .startsWith("text/event-stream"));
      assertTrue(java.util.Arrays.equals(Files.readAllBytes(TestResources.upstreamFixture(file)), response.body()));
    }
  }

  @Test
  void jsonlFixturesAreReframedWithEventLines() throws Exception {
    String file = "openai-responses-reasoning-summary-toolcall.chunks.jsonl";
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.fixture(file));
      String body = TestClient.post(fake, "/v1/responses", RESPONSES_STREAM).body();

      List<String> lines =
          Files.readAllLines(TestResources.upstreamFixture(file)).stream().filter(l -> !l.isBlank()).toList();
      List<Sse> frames = Sse.parse(body);
      assertEquals(lines.size(), frames.size());
      for (int i = 0; i < lines.size(); i++) {
        JsonNode recorded = Json.parse(lines.get(i));
        assertEquals(recorded.get("type").asText(), frames.get(i).event());
        assertEquals(recorded, Json.parse(frames.get(i).data()));
      }
      assertFalse(body.contains("[DONE]"));
    }
  }

  @Test
  void jsonFixturesAreServedAsBodies() throws Exception {
    String file = "lmstudio-responses-toolcall-nonstream.json";
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(
          Script.fixture(file),
          Script.status(400, ErrorBodies.fromFixture("llamacpp-context-overflow-400.json")));

      assertEquals(
          Files.readString(TestResources.upstreamFixture(file)),
          TestClient.post(fake, "/v1/responses", "{}").body());
      HttpResponse<String> overflow = TestClient.post(fake, "/v1/responses", "{}");
      assertEquals(400, overflow.statusCode());
      assertEquals(4096, Json.parse(overflow.body()).at("/error/n_ctx").asInt());
    }
  }

  // ---- framing knobs ----

  @Test
  void framingKnobsChangeOnlyTheFraming() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(
          Script.reply("a b").eventLines(false).done(true).sequenceNumbers(false),
          Script.reply("a b").crlf(),
          Script.reply("a b").done(false));

      String dataOnly = TestClient.post(fake, "/v1/responses", RESPONSES_STREAM).body();
      assertTrue(Sse.parse(dataOnly).stream().allMatch(f -> f.event() == null));
      assertTrue(dataOnly.endsWith("data: [DONE]\n\n"));
      assertTrue(Sse.json(dataOnly).stream().noneMatch(e -> e.has("sequence_number")));

      String crlf = TestClient.post(fake, "/v1/responses", RESPONSES_STREAM).body();
      assertTrue(crlf.startsWith("event: response.created\r\ndata: {"));
      assertFalse(crlf.replace("\r\n", "").contains("\n"), "every line ends with CRLF");
      assertEquals("response.completed", Sse.types(crlf).get(Sse.types(crlf).size() - 1));

      String noDone = TestClient.post(fake, "/v1/chat/completions", CHAT_STREAM).body();
      assertFalse(noDone.contains("[DONE]"));
    }
  }

  @Test
  void keepAliveCommentsFillIdleTime() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(
          Script.reply("late")
              .firstTokenDelay(Duration.ofMillis(400))
              .keepAlive(Duration.ofMillis(50)));
      String body = TestClient.post(fake, "/v1/chat/completions", CHAT_STREAM).body();

      List<Sse> frames = Sse.parse(body);
      int firstComment =
          IntStream.range(0, frames.size())
              .filter(i -> frames.get(i).comment() != null)
              .findFirst()
              .orElseThrow();
      assertEquals("keep-alive", frames.get(firstComment).comment());
      assertEquals(
          1, firstComment, "comments come after the role chunk, while the first token is awaited");
      assertTrue(frames.stream().filter(f -> f.comment() != null).count() >= 3);
      assertEquals("late", join(Sse.json(body), "/choices/0/delta/content"));
    }
  }

  @Test
  void writeSizeSplitsFramesMidLineAndMidCharacter() throws Exception {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("día ünïcødé").writeSize(3));
      try (RawHttp raw = RawHttp.post(fake.address(), "/v1/chat/completions", CHAT_STREAM)) {
        RawHttp.Body body = raw.readToEnd();

        assertTrue(body.complete());
        assertTrue(body.chunks().stream().allMatch(c -> c.length <= 3));
        assertTrue(
            body.chunks().stream().anyMatch(c -> !decodes(c)), "some chunk cuts a UTF-8 sequence");
        assertEquals("día ünïcødé", join(Sse.json(body.text()), "/choices/0/delta/content"));
      }
    }
  }

  // ---- helpers ----

  private static boolean decodes(byte[] bytes) {
    try {
      StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes));
      return true;
    } catch (CharacterCodingException e) {
      return false;
    }
  }

  private static String describeAnthropic(JsonNode event) {
    String type = event.get("type").asText();
    return switch (type) {
      case "content_block_start" ->
          type + ":" + event.get("index") + ":" + event.at("/content_block/type").asText();
      case "content_block_delta" ->
          type + ":" + event.get("index") + ":" + event.at("/delta/type").asText();
      case "content_block_stop" -> type + ":" + event.get("index");
      default -> type;
    };
  }

  private static List<JsonNode> all(List<JsonNode> events, String type) {
    return events.stream().filter(e -> e.path("type").asText().equals(type)).toList();
  }

  private static JsonNode first(List<JsonNode> events, String type) {
    return all(events, type).get(0);
  }

  private static List<String> deltas(List<JsonNode> events, String type) {
    return all(events, type).stream().map(e -> e.get("delta").asText()).toList();
  }

  private static String join(List<JsonNode> events, String pointer) {
    return events.stream()
        .map(e -> e.at(pointer))
        .filter(JsonNode::isTextual)
        .map(JsonNode::asText)
        .reduce("", String::concat);
  }
}
