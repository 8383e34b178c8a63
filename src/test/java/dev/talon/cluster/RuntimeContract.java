package dev.talon.cluster;

import static dev.talon.conversation.ConversationFixtures.userSays;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.config.TalonConfig;
import dev.talon.conversation.ConversationEntity.Status;
import dev.talon.conversation.ConversationEntity.Subscribed;
import dev.talon.conversation.ConversationEntity.Transcript;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.conversation.ConversationEntity.TurnAccepted;
import dev.talon.conversation.InputItem;
import dev.talon.conversation.ScriptedTurnRunner;
import dev.talon.conversation.TurnEvent;
import dev.talon.upstream.ModelRequest;
import dev.talon.upstream.ModelRequest.Role;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import dev.talon.conversation.TurnEvents;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * What a Talon node must do on any journal database: sharded turns that outlive their
 * subscribers, and conversations read back intact by a new actor system. One node at a time.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class RuntimeContract {
  final ScriptedTurnRunner runner = new ScriptedTurnRunner();
  TalonRuntime runtime;

  abstract TalonConfig config();

  abstract Path dataDir();

  /** Between two runtimes: make the next one read the database from scratch. */
  void afterStop() throws Exception {}

  @BeforeAll
  void startRuntime() throws Exception {
    runtime = startNode("start");
  }

  @AfterAll
  void stopRuntime() throws Exception {
    if (runtime != null) {
      runtime.close();
    }
  }

  TalonRuntime startNode(String what) throws Exception {
    long started = System.nanoTime();
    TalonRuntime node = TalonRuntime.start(config(), dataDir(), (system, metrics) -> runner);
    get(node.whenUp());
    System.out.printf("%s: %s to Up in %d ms%n", getClass().getSimpleName(), what, millisSince(started));
    return node;
  }

  static long millisSince(long nanos) {
    return (System.nanoTime() - nanos) / 1_000_000;
  }

  static <T> T get(CompletionStage<T> stage) throws Exception {
    return stage.toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  static List<TurnEvent> collect(TurnEvents events, TalonRuntime node) throws Exception {
    return get(events.source().runWith(Sink.seq(), node.system()));
  }

  TurnAccepted start(String session, String text) throws Exception {
    return assertInstanceOf(TurnAccepted.class,
        get(runtime.conversations().startTurn(session, null, null, userSays(text), null)));
  }

  /** A whole turn, waited for: its last event is journaled by the time it arrives. */
  TurnEvent turn(String session, String text) throws Exception {
    List<TurnEvent> events = collect(start(session, text).events(), runtime);
    return events.get(events.size() - 1);
  }

  Transcript transcript(String session) throws Exception {
    return get(runtime.conversations().transcript(session));
  }

  @Test
  void aTurnOutlivesASubscriberThatLeaves() throws Exception {
    ScriptedTurnRunner.Script script = runner.hold("Hello", ", world");
    TurnAccepted accepted = start("leaver", "hi");
    TurnEvent first = get(accepted.events().source().runWith(Sink.head(), runtime.system()));
    assertInstanceOf(TurnEvent.Started.class, first);

    script.release();
    Subscribed again = assertInstanceOf(Subscribed.class,
        get(runtime.conversations().subscribe("leaver", accepted.turnId(), 0)));
    List<TurnEvent> events = collect(again.events(), runtime);
    assertEquals(List.of(new TurnEvent.TextDelta("Hello"), new TurnEvent.TextDelta(", world")), events.subList(1, 3));
    assertInstanceOf(TurnEvent.Completed.class, events.get(3));

    Turn turn = transcript("leaver").turns().get(0);
    assertEquals(Status.COMPLETED, turn.status());
    assertEquals("Hello, world", turn.result().text());
  }

  @Test
  void everyConversationIsReadBackByANewActorSystem() throws Exception {
    runner.answer("A1");
    turn("two-turns", "q1");
    runner.answer("A2");
    turn("two-turns", "q2");
    runner.fail("upstream down");
    turn("failed", "q");
    turn("was-reset", "forget me");
    get(runtime.conversations().delete("was-reset"));
    turn("was-reset", "fresh start");
    int longTurns = 1000;
    long writing = System.nanoTime();
    for (int i = 0; i < longTurns; i++) {
      turn("long", "question " + i);
    }
    System.out.printf("%s: %d turns of one conversation in %d ms%n", getClass().getSimpleName(), longTurns,
        millisSince(writing));
    // A turn still running when the node goes away: only its TurnStarted is in the journal.
    runner.hold("never finished");
    get(start("killed-mid-turn", "are you there?").events().source().runWith(Sink.head(), runtime.system()));
    Map<String, Transcript> before = new LinkedHashMap<>();
    for (String session : List.of("two-turns", "failed", "was-reset", "long")) {
      before.put(session, transcript(session));
    }

    runtime.close();
    afterStop();
    runtime = startNode("restart");

    long recovering = System.nanoTime();
    assertEquals(before.get("two-turns"), transcript("two-turns")); // also starts the shard and the pool
    long warm = System.nanoTime();
    Transcript longOne = transcript("long");
    System.out.printf("%s: first conversation read back in %d ms, then one of %d turns in %d ms%n",
        getClass().getSimpleName(), (warm - recovering) / 1_000_000, longOne.turns().size(), millisSince(warm));
    assertEquals(before.get("long"), longOne);
    for (String session : List.of("failed", "was-reset")) {
      assertEquals(before.get(session), transcript(session), session);
    }
    assertEquals(List.of(List.of(new InputItem.Message(Role.USER, "fresh start"))),
        before.get("was-reset").turns().stream().map(Turn::input).toList());

    Turn interrupted = transcript("killed-mid-turn").turns().get(0);
    assertEquals(Status.INTERRUPTED, interrupted.status());
    runner.answer("Yes.");
    assertInstanceOf(TurnEvent.Completed.class, turn("killed-mid-turn", "hello?"));
    assertEquals(List.of(new ModelRequest.Message(Role.USER, "are you there?"),
        new ModelRequest.Message(Role.USER, "hello?")), runner.lastCall().request().input());
  }

  /** Rows of {@code table} that belong to the conversation {@code session}. */
  long rows(String table, String session) throws Exception {
    try (Connection connection = JournalDatabase.of(config().talon().storage(), dataDir()).connect();
        PreparedStatement query = connection.prepareStatement(
            "SELECT COUNT(*) FROM \"" + table + "\" WHERE \"persistence_id\" = ?")) {
      query.setString(1, "Conversation|" + session);
      try (ResultSet rs = query.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }

  @Test
  void deleteCancelsTheRunningTurnAndLeavesNoRowsThenTheKeyStartsAfresh() throws Exception {
    // 51 turns are 102 events: past the snapshot taken every 100.
    for (int i = 0; i < 51; i++) {
      turn("erased", "secret " + i);
    }
    ScriptedTurnRunner.Script running = runner.hold("never ", "finished");
    TurnAccepted last = start("erased", "one more");
    assertTrue(rows("event_journal", "erased") > 100);
    assertEquals(1, rows("snapshot", "erased"));

    get(runtime.conversations().delete("erased"));
    running.terminated().get(10, TimeUnit.SECONDS);
    List<TurnEvent> events = collect(last.events(), runtime);
    assertEquals("CANCELLED", ((TurnEvent.Failed) events.get(events.size() - 1)).kind());
    assertEquals(0, rows("event_journal", "erased"));
    assertEquals(0, rows("snapshot", "erased"));

    assertEquals(List.of(), transcript("erased").turns());
    runner.answer("fresh");
    assertInstanceOf(TurnEvent.Completed.class, turn("erased", "hello again"));
    assertEquals(List.of(new ModelRequest.Message(Role.USER, "hello again")), runner.lastCall().request().input());
    assertEquals(2, rows("event_journal", "erased"));
  }

  @Test
  void theSweepFindsKeylessConversationsByTheirLastWriteAndErasesOnlyUnusedOnes() throws Exception {
    List<TurnEvent> keyless = collect(assertInstanceOf(TurnAccepted.class, get(runtime.conversations().startTurn(
        new Conversations.NewTurn("anon:sweep-1", true, null, true, null, null, userSays("hi"), null, null,
        List.of())))).events(), runtime);
    assertInstanceOf(TurnEvent.Completed.class, keyless.get(keyless.size() - 1));
    turn("anon:sweep-1", "continued with the key it was given"); // still a keyless conversation
    turn("named-sweep-1", "hi");
    JournalRows journal = new JournalRows(JournalDatabase.of(config().talon().storage(), dataDir()), Runnable::run);
    Instant now = Instant.now();

    assertEquals(List.of(), get(journal.keylessUnusedSince(now.minusSeconds(3600))));
    assertEquals(List.of("Conversation|anon:sweep-1"), get(journal.keylessUnusedSince(now.plusSeconds(3600)))
        .stream().filter(id -> id.contains("sweep-1")).toList());
    get(runtime.conversations().expire("anon:sweep-1", now.minusSeconds(3600))); // used since: kept
    assertEquals(4, rows("event_journal", "anon:sweep-1"));
    get(runtime.conversations().expire("anon:sweep-1", now.plusSeconds(3600)));
    assertEquals(0, rows("event_journal", "anon:sweep-1"));
    assertEquals(2, rows("event_journal", "named-sweep-1"));
  }

  @Test
  void theSchemaStepIsIdempotentOnALiveDatabase() throws Exception {
    JournalDatabase database = JournalDatabase.of(config().talon().storage(), dataDir());
    JournalSchema.ensure(database);
    JournalSchema.ensure(database);
    assertInstanceOf(TurnEvent.Completed.class, turn("after-schema", "still fine?"));
  }

  @Test
  void theJournalHoldsNamedJsonEventsAndNoClassNames() throws Exception {
    runner.answer("stored");
    turn("format", "how are you stored?");
    List<String> rows = new ArrayList<>();
    try (Connection connection = JournalDatabase.of(config().talon().storage(), dataDir()).connect();
        PreparedStatement query = connection.prepareStatement("SELECT \"event_ser_id\", \"event_ser_manifest\", "
            + "\"event_payload\" FROM \"event_journal\" WHERE \"persistence_id\" = ? ORDER BY \"sequence_number\"")) {
      query.setString(1, "Conversation|format");
      try (ResultSet rs = query.executeQuery()) {
        while (rs.next()) {
          assertEquals(7301, rs.getInt(1));
          assertEquals("", rs.getString(2));
          rows.add(new String(rs.getBytes(3), StandardCharsets.UTF_8));
        }
      }
    }
    assertEquals(2, rows.size(), rows::toString);
    assertTrue(rows.get(0).startsWith("{\"type\":\"turn-started\""), rows.get(0));
    assertTrue(rows.get(1).startsWith("{\"type\":\"turn-completed\""), rows.get(1));
  }
}
