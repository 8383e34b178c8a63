package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.cluster.JournalTranscripts;
import dev.talon.compaction.Budget;
import dev.talon.compaction.TokenEstimate;
import dev.talon.config.CompactionSettings;
import dev.talon.conversation.ConversationEntity.Context;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.conversation.TurnReplay;
import dev.talon.testing.ErrorBodies;
import dev.talon.testing.Request;
import dev.talon.testing.Script;
import dev.talon.testing.TestModels;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A 200-turn conversation of varied length, with tool-call turns and failovers to a fallback with
 * half the window, on a model with an 8,192-token window: every request the upstream receives fits
 * the budget of the model it was sent to, summaries are made and journaled, the kept tail is the
 * journal's newest turns, no request separates a function call from its output, and a restarted
 * node has the same view without calling a model.
 */
class LongConversationTest {
  static final String CONFIG = """
      { agents: { defaults: { model: { primary: "local/a", fallbacks: ["small/c"] } } },
        models: { mode: "replace", providers: {
          local: { baseUrl: "%1$s", apiKey: "sk-local-secret", api: "openai-responses",
                   models: [{ id: "a", contextWindow: 8192, maxTokens: 1024 }] },
          small: { baseUrl: "%1$s", apiKey: "sk-small-secret", api: "openai-completions",
                   models: [{ id: "c", contextWindow: 4096, maxTokens: 512 }] } } },
        talon: { failover: { retries: 0, cooldownSeconds: [1] } } }
      """;
  static final String KEY = "long-conversation";
  static final int TURNS = 200;
  static final String SUMMARISER = "You maintain the memory of a long conversation";
  static final String IDENTIFIER = "PROJECT-ID-4242";

  @TempDir
  Path dataDir;

  /** What the next turn's call answers; summariser calls get a summary. */
  final AtomicReference<Script> nextAnswer = new AtomicReference<>();
  /** The primary fails this turn, so the turn goes to the fallback with the smaller window. */
  final AtomicBoolean primaryDown = new AtomicBoolean();
  final Random random = new Random(42);

  @Test
  void twoHundredTurnsStayWithinEveryModelsBudget() throws Exception {
    Context before;
    List<String> summaries;
    try (TalonApi api = TalonApi.start(dataDir, TalonApi.TOKEN, CONFIG)) {
      api.fake.setDefault(this::answer);
      String pendingCall = null;
      for (int turn = 1; turn <= TURNS; turn++) {
        primaryDown.set(turn % 25 == 0);
        boolean toolTurn = turn % 7 == 0;
        nextAnswer.set(toolTurn ? Script.reply().toolCall("lookup", "{\"turn\":" + turn + "}")
            : Script.reply(words(100 + random.nextInt(1400))));
        ArrayNode input = TalonApi.JSON.createArrayNode();
        if (pendingCall != null) {
          input.addObject().put("type", "function_call_output").put("call_id", pendingCall)
              .put("output", words(200 + random.nextInt(1800)));
        } else {
          input.addObject().put("role", "user")
              .put("content", (turn == 1 ? "Remember " + IDENTIFIER + ". " : "") + words(50 + random.nextInt(1200)));
        }
        ObjectNode body = TalonApi.JSON.createObjectNode().put("model", "main");
        body.set("input", input);
        HttpResponse<String> response = api.post("/v1/responses", body.toString(), TurnRequest.SESSION_HEADER, KEY);
        assertEquals(200, response.statusCode(), "turn " + turn + ": " + response.body());
        pendingCall = callId(TalonApi.json(response));
        assertEquals(toolTurn, pendingCall != null, "turn " + turn);
      }
      List<Request> requests = api.fake.requests();
      requests.forEach(LongConversationTest::assertFitsItsBudget);
      requests.stream().filter(r -> !isSummariser(r)).forEach(LongConversationTest::assertCallsBeforeTheirOutputs);
      assertTrue(requests.stream().anyMatch(r -> !isSummariser(r) && r.model().equals("c")),
          "some turns went to the fallback with the smaller window");
      assertTrue(requests.stream().anyMatch(LongConversationTest::isSummariser), "summaries were written");

      before = awaitNoCompactionRunning(api);
      assertTrue(before.compactions() >= 5, "compactions: " + before.compactions());
      assertTrue(before.latest().summary().contains(IDENTIFIER), "the summary carries the identifier on");
      assertEquals(TURNS, before.turnCount());

      // The kept tail is the journal's newest turns, whole; the journal holds all of them.
      List<Turn> held = api.transcript(KEY).turns();
      JournalTranscripts.Page all = api.runtime.conversations().page(KEY, 0, 1000).toCompletableFuture()
          .get(30, TimeUnit.SECONDS);
      assertEquals(TURNS, all.turns().size());
      assertFalse(all.more());
      List<Turn> journalTail = all.turns().subList(TURNS - held.size(), TURNS).stream()
          .map(TurnReplay.Numbered::turn).toList();
      assertEquals(journalTail, held);
      assertEquals(before.latest().firstKeptTurnId(), held.get(0).turnId());
      summaries = requests.stream().filter(LongConversationTest::isSummariser).map(Request::rawBody).toList();
    }

    try (TalonApi api = TalonApi.start(dataDir, TalonApi.TOKEN, CONFIG)) {
      api.fake.setDefault(this::answer);
      Context after = api.runtime.conversations().context(KEY).toCompletableFuture().get(30, TimeUnit.SECONDS);
      assertEquals(before, after, "the same view after a restart");
      assertEquals(List.of(), api.fake.requests(), "recovery called no model");

      nextAnswer.set(Script.reply("still here"));
      HttpResponse<String> response = api.post("/v1/responses",
          "{\"model\":\"main\",\"input\":\"What was the project id?\"}", TurnRequest.SESSION_HEADER, KEY);
      assertEquals(200, response.statusCode(), response.body());
      Request next = api.fake.requests().get(api.fake.requests().size() - 1);
      assertFalse(isSummariser(next));
      assertTrue(next.rawBody().contains(IDENTIFIER), "the summary leads the view");
      assertNotNull(summaries);
    }
  }

  private Script answer(Request request) {
    int window = request.model().equals("c") ? 4096 : 8192;
    if (isSummariser(request)) {
      // A summary that carries the identifier on, as the instructions ask.
      return Script.reply("## Goal\nHelp with " + IDENTIFIER + ".\n## Progress\n### Done\n" + words(300)
          + "\n## Critical context\n" + IDENTIFIER).contextWindow(window);
    }
    if (primaryDown.get() && request.model().equals("a")) {
      return Script.status(500, ErrorBodies.openAiServerError());
    }
    return nextAnswer.get().contextWindow(window);
  }

  static boolean isSummariser(Request request) {
    return request.rawBody().contains(SUMMARISER);
  }

  /** The call id of a function call the response ends with, or null. */
  static String callId(JsonNode response) {
    for (JsonNode item : response.path("output")) {
      if (item.path("type").asText().equals("function_call")) {
        return item.path("call_id").asText();
      }
    }
    return null;
  }

  /**
   * The request's prompt, counted as Talon counts it (text by text, images at a fixed price), is
   * within the prompt budget of the model it was sent to, given the output it asked for.
   */
  static void assertFitsItsBudget(Request request) {
    JsonNode body = request.body();
    int window = request.model().equals("c") ? 4096 : 8192;
    int maxTokens = request.model().equals("c") ? 512 : 1024;
    Integer asked = isSummariser(request)
        ? body.path(body.has("max_output_tokens") ? "max_output_tokens" : "max_tokens").asInt() : null;
    int budget = Budget.of(TestModels.model(window, null, maxTokens), asked, CompactionSettings.DEFAULTS)
        .promptTokens();
    long prompt = TokenEstimate.ofText(body.path("instructions").asText("")) + items(body);
    assertTrue(prompt <= budget, request.model() + " got a prompt of " + prompt + " tokens over its budget of " + budget
        + (isSummariser(request) ? " (summariser)" : ""));
  }

  private static long items(JsonNode body) {
    long tokens = 0;
    for (JsonNode item : body.has("input") ? body.path("input") : body.path("messages")) {
      tokens += text(item.path("content")) + text(item.path("output")) + text(item.path("arguments"))
          + text(item.path("name"));
      for (JsonNode call : item.path("tool_calls")) {
        tokens += text(call.path("function").path("name")) + text(call.path("function").path("arguments"));
      }
    }
    return tokens;
  }

  private static long text(JsonNode node) {
    if (node.isTextual()) {
      return TokenEstimate.ofText(node.asText());
    }
    long tokens = 0;
    for (JsonNode part : node) {
      tokens += TokenEstimate.ofText(part.path("text").asText(""));
    }
    return tokens;
  }

  /** Every function output in a request follows the call it answers. */
  static void assertCallsBeforeTheirOutputs(Request request) {
    Set<String> called = new HashSet<>();
    for (JsonNode item : request.body().has("input") ? request.body().path("input") : request.body().path("messages")) {
      item.path("tool_calls").forEach(call -> called.add(call.path("id").asText()));
      if (item.path("type").asText().equals("function_call")) {
        called.add(item.path("call_id").asText());
      }
      String answers = item.path("type").asText().equals("function_call_output") ? item.path("call_id").asText()
          : item.path("role").asText().equals("tool") ? item.path("tool_call_id").asText() : null;
      assertTrue(answers == null || called.contains(answers), "an output without its call: " + request.rawBody());
    }
  }

  private static Context awaitNoCompactionRunning(TalonApi api) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (true) {
      Context context = api.runtime.conversations().context(KEY).toCompletableFuture().get(30, TimeUnit.SECONDS);
      if (!context.compacting() || System.nanoTime() > deadline) {
        assertFalse(context.compacting(), "a compaction still runs after 30 s");
        return context;
      }
      LockSupport.parkNanos(Duration.ofMillis(20).toNanos());
    }
  }

  private String words(int chars) {
    StringBuilder out = new StringBuilder();
    while (out.length() < chars) {
      out.append(WORDS[random.nextInt(WORDS.length)]).append(' ');
    }
    return out.toString().strip();
  }

  private static final String[] WORDS = {"deploy", "the", "service", "config", "/etc/talon.json5", "retry",
      "cluster", "node-3", "latency", "42 ms", "rollback", "migration", "v2.7.1", "queue", "index", "cache"};
}
