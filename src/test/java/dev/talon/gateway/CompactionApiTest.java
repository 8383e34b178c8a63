package dev.talon.gateway;

import static dev.talon.gateway.ApiErrorsTest.assertBadRequest;
import static dev.talon.gateway.ApiErrorsTest.assertError;
import static dev.talon.gateway.ApiErrorsTest.assertMessageMentions;
import static dev.talon.gateway.ConversationSemanticsTest.ok;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.testing.ErrorBodies;
import dev.talon.testing.Request;
import dev.talon.testing.Script;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Compaction through the HTTP API, on a model with an 8192-token window: the transcript paged
 * from the journal while the conversation's memory holds only what models see, compaction on
 * request, the summariser's model, recovery from a reported overflow, a summariser that fails,
 * and how streams show a compaction. Each test runs a node of its own, so a failed model's
 * cooldown stays there.
 */
class CompactionApiTest {
  /** How every summariser request's instructions begin. */
  static final String SUMMARISER = "You maintain the memory of a long conversation";
  static final String SUMMARY_MARK = "[Summary of the earlier conversation";
  static final String SUMMARY = "SUMMARY: the user walked through the deployment plan.";

  /** {@code local/a} answers turns; {@code backup/s} (alias {@code scribe}) may write summaries. */
  static TalonApi node(Path data, String compaction) throws Exception {
    return TalonApi.start(data, TalonApi.TOKEN, """
        { agents: { defaults: { model: { primary: "local/a" }, models: { "backup/s": { alias: "scribe" } },
                                compaction: { %s } } },
          models: { mode: "replace", providers: {
            local: { baseUrl: "%%1$s", apiKey: "sk-local-secret", api: "openai-responses",
                     models: [{ id: "a", contextWindow: 8192, maxTokens: 1024 }] },
            backup: { baseUrl: "%%1$s", apiKey: "sk-backup-secret", api: "openai-responses",
                      models: [{ id: "s", contextWindow: 8192, maxTokens: 1024 }] } } },
          talon: { failover: { retries: 1, backoffInitialMs: 10, backoffMaxMs: 20, overflowRetries: 1 } } }
        """.formatted(compaction));
  }

  /** A Responses request of the conversation {@code key}. */
  static HttpRequest turn(TalonApi api, String key, String json) {
    return api.request("/v1/responses").header("Content-Type", "application/json")
        .header(TurnRequest.SESSION_HEADER, key).POST(HttpRequest.BodyPublishers.ofString(json)).build();
  }

  static HttpResponse<String> send(TalonApi api, String key, String input) throws Exception {
    return api.http.send(turn(api, key, TalonApi.JSON.createObjectNode().put("input", input).toString()),
        HttpResponse.BodyHandlers.ofString());
  }

  /** Turns answered {@code answer 1}, {@code answer 2}…; returns their response ids. */
  static List<String> turns(TalonApi api, String key, String... inputs) throws Exception {
    List<String> ids = new ArrayList<>();
    for (String input : inputs) {
      api.fake.enqueue(Script.reply("answer " + (ids.size() + 1)));
      ids.add(ok(send(api, key, input)).path("id").asText());
    }
    return ids;
  }

  static JsonNode conversation(TalonApi api, String key, String query) throws Exception {
    return ok(api.get("/v1/conversations/" + key + query));
  }

  static HttpResponse<String> compact(TalonApi api, String key, String body) throws Exception {
    return api.post("/v1/conversations/" + key + "/compact", body);
  }

  static boolean isSummariser(Request request) {
    return request.body().path("instructions").asText().startsWith(SUMMARISER);
  }

  static List<Request> summariserRequests(TalonApi api) {
    return api.fake.requests().stream().filter(CompactionApiTest::isSummariser).toList();
  }

  /** The text of each input item of a Responses request, in order. */
  static List<String> inputTexts(Request request) {
    return StreamSupport.stream(request.body().path("input").spliterator(), false)
        .map(item -> item.path("content").isTextual() ? item.path("content").asText()
            : item.path("content").path(0).path("text").asText()).toList();
  }

  static List<Integer> numbers(JsonNode conversation) {
    return StreamSupport.stream(conversation.path("turns").spliterator(), false)
        .map(turn -> turn.path("number").asInt()).toList();
  }

  /** A stream's events or chunks, by what marks them, must come in this order. */
  static void assertInOrder(List<String> seen, String... marks) {
    int at = -1;
    for (String mark : marks) {
      int next = -1;
      for (int i = at + 1; i < seen.size() && next < 0; i++) {
        next = seen.get(i).contains(mark) ? i : -1;
      }
      assertTrue(next > at, mark + " after " + (at < 0 ? "the start" : seen.get(at)) + " in " + seen);
      at = next;
    }
  }

  @Test
  void theTranscriptIsPagedFromTheJournalAndKeepsFoldedTurns(@TempDir Path data) throws Exception {
    try (TalonApi api = node(data, "keepRecentTokens: 1")) {
      List<String> ids = turns(api, "paged", "turn 1", "turn 2", "turn 3", "turn 4", "turn 5");

      JsonNode page = conversation(api, "paged", "?after=2&limit=2");
      assertEquals(List.of(3, 4), numbers(page));
      assertEquals("turn 3", page.path("turns").path(0).path("input").path(0).path("content").asText());
      assertEquals(ids.get(2), page.path("turns").path(0).path("response_id").asText());
      assertTrue(page.path("has_more").asBoolean(), page.toString());
      assertEquals(4, page.path("next_after").asInt());
      assertEquals(5, page.path("turn_count").asInt());
      assertTrue(page.path("context").path("latest_compaction").isNull(), page.toString());
      assertTrue(conversation(api, "paged", "?after=5").path("next_after").isNull());
      assertBadRequest(api.get("/v1/conversations/paged?limit=1001"), "limit");
      assertBadRequest(api.get("/v1/conversations/paged?after=two"), "after");

      api.fake.enqueue(Script.reply(SUMMARY));
      ok(compact(api, "paged", ""));
      JsonNode all = conversation(api, "paged", "");
      assertEquals(List.of(1, 2, 3, 4, 5), numbers(all));
      assertFalse(all.path("has_more").asBoolean());
      assertEquals(5, all.path("next_after").asInt());
      JsonNode context = all.path("context");
      assertEquals(1, context.path("compactions").asInt(), all.toString());
      assertEquals(1, context.path("kept_turns").asInt(), all.toString());
      // the window less the output tokens and a reserve, which shrinks so that half the window stays usable
      assertEquals(4096, context.path("budget_tokens").asInt(), all.toString());
      assertEquals(SUMMARY, context.path("latest_compaction").path("summary").asText());
      assertEquals(ids.get(4), context.path("latest_compaction").path("first_kept_response_id").asText());

      // The first turn is now only in the journal, and still a stored response.
      assertFalse(api.transcript("paged").turns().stream()
          .anyMatch(turn -> api.ids.of("paged", turn.turnId()).equals(ids.get(0))));
      JsonNode first = ok(api.get("/v1/responses/" + ids.get(0)));
      assertEquals("answer 1", first.path("output").path(0).path("content").path(0).path("text").asText());

      assertError(api.get("/v1/conversations/never-was"), 404, "invalid_request_error", "conversation_not_found", null);
      assertError(compact(api, "never-was", ""), 404, "invalid_request_error", "conversation_not_found", null);
    }
  }

  @Test
  void aCompactionOnRequestFocusesOnWhatTheClientAsked(@TempDir Path data) throws Exception {
    try (TalonApi api = node(data, "keepRecentTokens: 1")) {
      String long1 = "We plan the deployment: staging first, then production. ".repeat(20);
      String long2 = "The database migration runs before the blue-green switch. ".repeat(20);
      turns(api, "focus", long1, long2, "And the rollback?");
      assertBadRequest(compact(api, "focus", "{\"instructions\":42}"), "instructions");
      turns(api, "lonely", "Just one turn.");
      assertError(compact(api, "lonely", ""), 409, "invalid_request_error", "nothing_to_compact", null);
      assertError(compact(api, "nobody", ""), 404, "invalid_request_error", "conversation_not_found", null);

      api.fake.enqueue(Script.reply(SUMMARY));
      JsonNode compaction = ok(compact(api, "focus", "{\"instructions\":\"the deployment plan\"}"));
      assertEquals("conversation.compaction", compaction.path("object").asText());
      assertEquals("focus", compaction.path("session_key").asText());
      assertEquals(SUMMARY, compaction.path("summary").asText());
      assertEquals("manual", compaction.path("trigger").asText());
      assertEquals(2, compaction.path("folded_turns").asInt());
      assertTrue(compaction.path("tokens_after").asLong() < compaction.path("tokens_before").asLong(),
          compaction.toString());
      List<Request> summarisers = summariserRequests(api);
      assertEquals(1, summarisers.size());
      assertTrue(summarisers.get(0).rawBody().contains("the deployment plan"), summarisers.get(0).rawBody());

      api.fake.enqueue(Script.reply("Roll back by switching colours."));
      ok(send(api, "focus", "Remind me of the plan."));
      List<String> input = inputTexts(api.fake.requests().get(api.fake.requests().size() - 1));
      assertTrue(input.get(0).startsWith(SUMMARY_MARK) && input.get(0).endsWith(SUMMARY), input.toString());
      assertFalse(input.stream().anyMatch(text -> text.equals(long1)), "the folded turn is not sent again");

      // While a turn runs, the conversation is busy.
      api.fake.enqueue(Script.reply("slowly").firstTokenDelay(Duration.ofSeconds(1)));
      int before = api.fake.requests().size();
      CompletableFuture<HttpResponse<String>> running = api.http.sendAsync(
          turn(api, "focus", "{\"input\":\"Take your time.\"}"), HttpResponse.BodyHandlers.ofString());
      api.fake.awaitRequests(before + 1, Duration.ofSeconds(10));
      assertError(compact(api, "focus", ""), 409, "invalid_request_error", "conversation_busy", null);
      ok(running.get());
    }
  }

  @Test
  void summariesAreWrittenByTheCompactionModel(@TempDir Path data) throws Exception {
    try (TalonApi api = node(data, "model: \"scribe\", keepRecentTokens: 1")) {
      turns(api, "scribed", "one", "two");
      api.fake.enqueue(Script.reply(SUMMARY));
      JsonNode compaction = ok(compact(api, "scribed", "{}"));
      assertEquals("backup/s", compaction.path("model").asText());
      List<Request> summarisers = summariserRequests(api);
      assertEquals(1, summarisers.size());
      assertEquals("s", summarisers.get(0).model());
      assertEquals("a", api.fake.requests().get(0).model());
    }
  }

  @Test
  void aReportedOverflowCompactsAndRetriesOnceThenFailsClearly(@TempDir Path data) throws Exception {
    try (TalonApi api = node(data, "")) {
      turns(api, "overflow", "Tell me about the plan.");
      Script overflow = Script.status(400, ErrorBodies.llamaCppContextOverflow(5000, 4096));
      api.fake.enqueue(overflow, Script.reply(SUMMARY), Script.reply("Recovered answer."));
      List<ResponsesSseTest.Event> events;
      try (ResponsesSseTest.Sse sse = new ResponsesSseTest.Sse(api.http.send(
          turn(api, "overflow", "{\"input\":\"And then?\",\"stream\":true}"), HttpResponse.BodyHandlers.ofLines()))) {
        events = sse.rest();
      }
      assertInOrder(ResponsesSseTest.types(events), CompactionJson.STARTED, CompactionJson.COMPLETED,
          "response.output_text.delta", "response.completed");
      assertEquals("Recovered answer.", ResponsesSseTest.deltas(events));
      List<Request> requests = api.fake.requests();
      assertEquals(4, requests.size(), "the turn, its overflow, one summary, the retry");
      assertTrue(isSummariser(requests.get(2)));
      assertEquals("a", requests.get(3).model());
      assertTrue(inputTexts(requests.get(3)).get(0).startsWith(SUMMARY_MARK), requests.get(3).rawBody());

      api.fake.enqueue(overflow, Script.reply(SUMMARY), overflow);
      JsonNode error = assertError(send(api, "overflow", "Once more?"), 400, "invalid_request_error",
          "context_length_exceeded", null);
      assertMessageMentions(error, "no longer fits", "even after compaction");
      assertEquals(7, api.fake.requests().size(), "overflowRetries: 1 compaction, then no more calls");
    }
  }

  @Test
  void aSummariserThatFailsFailsTheTurnAndLeavesTheConversationAsItWas(@TempDir Path data) throws Exception {
    try (TalonApi api = node(data, "enabled: false, reserveTokens: 1000")) {
      // About 2,200 tokens each: the third turn does not fit the 6,168-token prompt budget.
      turns(api, "unchanged", "alpha ".repeat(1500), "bravo ".repeat(1500));
      api.fake.setDefault(Script.status(500, ErrorBodies.openAiServerError()));
      JsonNode error = assertError(send(api, "unchanged", "zulu ".repeat(1800)), 503, "server_error", null, null);
      assertMessageMentions(error, "could not compact the conversation");

      assertTrue(summariserRequests(api).size() >= 1, "the summariser was asked");
      for (Request request : api.fake.requests()) {
        assertFalse(request.rawBody().contains("zulu"), "the turn that does not fit is never sent");
        assertTrue(request.estimatedTokens() <= 8192, "a request of " + request.estimatedTokens() + " tokens");
      }
      JsonNode conversation = conversation(api, "unchanged", "");
      assertEquals(0, conversation.path("context").path("compactions").asInt(), conversation.toString());
      assertEquals(List.of(1, 2, 3), numbers(conversation));
      assertEquals(List.of("completed", "completed", "failed"), StreamSupport.stream(
          conversation.path("turns").spliterator(), false).map(turn -> turn.path("status").asText()).toList());
    }
  }

  @Test
  void aChatStreamShowsTheCompactionAsMarkerChunks(@TempDir Path data) throws Exception {
    try (TalonApi api = node(data, "")) {
      turns(api, "chat", "Tell me about the plan.");
      api.fake.enqueue(Script.status(400, ErrorBodies.llamaCppContextOverflow(5000, 4096)), Script.reply(SUMMARY),
          Script.reply("Recovered answer."));
      HttpResponse<String> response = api.post("/v1/chat/completions",
          "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"And then?\"}]}",
          TurnRequest.SESSION_HEADER, "chat");
      assertEquals(200, response.statusCode(), response.body());
      List<String> chunks = ChatCompletionsSseTest.data(response);
      assertInOrder(chunks, "\"talon\":{\"compaction_started\":{", "\"talon\":{\"compaction_completed\":{",
          "\"content\":\"Recovered\"", "[DONE]");
      JsonNode completed = TalonApi.JSON.readTree(chunks.stream()
          .filter(chunk -> chunk.contains("compaction_completed")).findFirst().orElseThrow());
      assertEquals("overflow", completed.path("talon").path("compaction_completed").path("trigger").asText());
    }
  }
}
