package dev.talon.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.config.ConfigLoader;
import dev.talon.config.TalonConfig;
import dev.talon.config.TalonSettings;
import dev.talon.conversation.ConversationEntity.Status;
import dev.talon.conversation.ConversationEntity.Transcript;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.conversation.ConversationEntity.TurnAccepted;
import dev.talon.conversation.ConversationFixtures;
import dev.talon.conversation.FailoverRunner;
import dev.talon.conversation.InputItem;
import dev.talon.conversation.OutputItem;
import dev.talon.conversation.TurnEvent;
import dev.talon.testing.ErrorBodies;
import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Script;
import dev.talon.upstream.ModelRequest.Role;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Talon node on an H2 file with the real failover runner and HTTP client against the fake
 * upstream: what subscribers see on a fault, and what the journal keeps — exactly the user's
 * input and the final answer.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FailoverEndToEndTest {
  @TempDir static Path dataDir;
  FakeUpstream fake;
  TalonRuntime runtime;

  @BeforeAll
  void start() throws Exception {
    fake = FakeUpstream.start();
    TalonConfig config = ConfigLoader.parse("""
        { agents: { defaults: { model: { primary: "local/a", fallbacks: ["backup/b"] } } },
          models: { mode: "replace", providers: {
            local: { baseUrl: "%1$s", api: "openai-responses", models: [{ id: "a" }] },
            backup: { baseUrl: "%1$s", api: "openai-completions", models: [{ id: "b" }] } } },
          talon: { failover: { retries: 1, backoffInitialMs: 10, backoffMaxMs: 20 } } }
        """.formatted(fake.baseUrl()), "e2e.json5", Map.<String, String>of()::get);
    runtime = startNode(config, dataDir);
  }

  /** A node on {@code config} with the real runner and HTTP client, once it is up. */
  static TalonRuntime startNode(TalonConfig config, Path dataDir) throws Exception {
    TalonRuntime node = TalonRuntime.start(config, dataDir,
        (system, metrics) -> FailoverRunner.standard(system, config.talon(), metrics));
    node.whenUp().toCompletableFuture().get(30, TimeUnit.SECONDS);
    return node;
  }

  @AfterAll
  void stop() throws Exception {
    runtime.close();
    fake.close();
  }

  List<TurnEvent> turn(String session, String text) throws Exception {
    return turn(session, text, null);
  }

  List<TurnEvent> turn(String session, String text, TalonSettings.MidStream midStream) throws Exception {
    TurnAccepted accepted = assertInstanceOf(TurnAccepted.class, runtime.conversations()
        .startTurn(session, null, null, ConversationFixtures.userSays(text), midStream).toCompletableFuture().get(15, TimeUnit.SECONDS));
    return accepted.events().source().runWith(Sink.seq(), runtime.system())
        .toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  Transcript transcript(String session) throws Exception {
    return runtime.conversations().transcript(session).toCompletableFuture().get(15, TimeUnit.SECONDS);
  }

  static List<String> models(List<TurnEvent> events) {
    return events.stream().filter(e -> e instanceof TurnEvent.Started || e instanceof TurnEvent.ModelSwitched)
        .map(e -> e instanceof TurnEvent.Started s ? s.model() : ((TurnEvent.ModelSwitched) e).toModel()).toList();
  }

  /** The conversation as the last upstream request sent it, one "role: text" line per message. */
  List<String> lastRequestMessages() {
    var messages = fake.requests().get(fake.requests().size() - 1).body().path("messages");
    return java.util.stream.StreamSupport.stream(messages.spliterator(), false)
        .map(m -> m.path("role").asText() + ": " + m.path("content").asText()).toList();
  }

  @Test
  void aFaultAfterPartialTextIsContinuedAndTheWholeAnswerIsJournaledAndSentBackAsHistory() throws Exception {
    fake.enqueue(Script.reply("SUMMARY: the user asked").dropAfter(3), Script.status(500, ErrorBodies.openAiServerError()),
        Script.reply(" user asked twice."));
    List<TurnEvent> events = turn("e2e-3", "Summarize");
    assertTrue(events.stream().noneMatch(e -> e instanceof TurnEvent.ModelSwitched s && s.discardOutput()));
    String streamed = events.stream().filter(e -> e instanceof TurnEvent.TextDelta)
        .map(e -> ((TurnEvent.TextDelta) e).text()).collect(java.util.stream.Collectors.joining());
    Turn turn = transcript("e2e-3").turns().get(0);
    assertEquals("SUMMARY: the user asked twice.", turn.result().text());
    assertEquals(streamed, turn.result().text());

    fake.enqueue(Script.reply("Done."));
    turn("e2e-3", "Thanks");
    // Whichever model the cooldowns left to answer it, the next turn's history holds the answer once, whole.
    String history = fake.requests().get(fake.requests().size() - 1).body().toString();
    assertTrue(history.contains("SUMMARY: the user asked twice."), history);
    assertEquals(1, history.split("SUMMARY", -1).length - 1, history);
  }

  @Test
  void inRestartModeAFaultAfterPartialTextFailsOverAndOnlyTheFinalAnswerIsJournaled() throws Exception {
    fake.enqueue(Script.reply("a partial answer that breaks").dropAfter(2),
        Script.status(500, ErrorBodies.openAiServerError()), Script.reply("The final answer."));
    List<TurnEvent> events = turn("e2e-1", "What is the answer?", TalonSettings.MidStream.RESTART);
    assertEquals(List.of("local/a", "local/a", "backup/b"), models(events));
    assertTrue(events.stream().anyMatch(e -> e instanceof TurnEvent.ModelSwitched s && s.discardOutput()));
    TurnEvent.Completed done = assertInstanceOf(TurnEvent.Completed.class, events.get(events.size() - 1));
    assertEquals("backup/b", done.result().model());

    Turn turn = transcript("e2e-1").turns().get(0);
    assertEquals(Status.COMPLETED, turn.status());
    assertEquals(List.of(new InputItem.Message(Role.USER, "What is the answer?")), turn.input());
    assertEquals(List.of(new OutputItem.Text("The final answer.")), turn.result().output());
    assertEquals(List.of("TRUNCATED", "SERVER_ERROR"), turn.result().attempts().stream()
        .filter(a -> !a.succeeded()).map(a -> a.failureKind()).toList());

    // The next turn of any conversation skips the cooled-down primary and starts on the fallback.
    fake.enqueue(Script.reply("Second answer."));
    List<TurnEvent> next = turn("e2e-1", "And then?");
    assertEquals(List.of("backup/b"), models(next));
    Transcript both = transcript("e2e-1");
    assertEquals(2, both.turns().size());
    assertEquals("Second answer.", both.turns().get(1).result().text());
    assertEquals(List.of("user: What is the answer?", "assistant: The final answer.", "user: And then?"),
        lastRequestMessages(), "the second turn's request carries the first turn's input and only its final answer");
  }

  @Test
  void whenEveryCandidateFailsTheTurnIsJournaledAsFailedWithItsInput() throws Exception {
    fake.enqueue(Script.status(401, ErrorBodies.openAi("bad key", "invalid_request_error", null, "invalid_api_key")),
        Script.status(401, ErrorBodies.openAi("bad key", "invalid_request_error", null, "invalid_api_key")));
    List<TurnEvent> events = turn("e2e-2", "Hello?");
    TurnEvent.Failed failed = assertInstanceOf(TurnEvent.Failed.class, events.get(events.size() - 1));
    assertEquals("AUTH", failed.kind());
    Turn turn = transcript("e2e-2").turns().get(0);
    assertEquals(Status.FAILED, turn.status());
    assertEquals(List.of(new InputItem.Message(Role.USER, "Hello?")), turn.input());
    assertNull(turn.result());
    assertEquals("AUTH", turn.failure().kind());
  }
}
