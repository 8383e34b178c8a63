package dev.talon.conversation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.UniqueKillSwitch;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class TurnLogTest {
  static final ActorTestKit testKit = ActorTestKit.create("TurnLogTest");

  @AfterAll
  static void shutdown() {
    testKit.shutdownTestKit();
  }

  static TurnEvent delta(int i) {
    return new TurnEvent.TextDelta("t" + i);
  }

  static final TurnEvent DONE = new TurnEvent.Failed("done", "TEST", List.of());

  static CompletableFuture<List<TurnEvent>> collect(TurnLog log, int fromIndex) {
    return log.batches(fromIndex).<TurnEvent>mapConcat(batch -> batch).runWith(Sink.seq(), testKit.system()).toCompletableFuture();
  }

  static List<TurnEvent> await(CompletableFuture<List<TurnEvent>> events) throws Exception {
    return events.get(10, TimeUnit.SECONDS);
  }

  @Test
  void replaysFromTheStartOrFromAnyIndex() throws Exception {
    TurnLog log = released("t");
    log.append(delta(0));
    log.append(delta(1));
    log.close(DONE);

    assertEquals(List.of(delta(0), delta(1), DONE), await(collect(log, 0)));
    assertEquals(List.of(delta(1), DONE), await(collect(log, 1)));
    assertEquals(List.of(), await(collect(log, 3)));
    assertEquals(List.of(), await(collect(log, 99)));
  }

  /** Closing packs runs of text and reasoning pieces; readers still get every piece as it came. */
  @Test
  void aClosedLogReplaysEveryPieceAsItStreamedFromAnyIndex() throws Exception {
    List<TurnEvent> turn = List.of(new TurnEvent.Started("t", "m"), new TurnEvent.ReasoningDelta("Let "),
        new TurnEvent.ReasoningDelta("me think"), new TurnEvent.TextDelta("Héllo"), new TurnEvent.TextDelta(""),
        new TurnEvent.TextDelta(" 🌍"), new TurnEvent.ToolCall("c1", "get", "{}"), new TurnEvent.TextDelta("one"),
        new TurnEvent.ModelSwitched("m", "n", "cut", false), new TurnEvent.TextDelta(" more"),
        new TurnEvent.TextDelta(" time"), new TurnEvent.ReasoningDelta("hm"), DONE);
    TurnLog log = released("t");
    turn.subList(0, turn.size() - 1).forEach(log::append);
    log.close(DONE);

    for (int from = 0; from <= turn.size() + 1; from++) {
      assertEquals(turn.subList(Math.min(from, turn.size()), turn.size()), await(collect(log, from)), "from " + from);
    }
  }

  @Test
  void aLateSubscriberGetsWhatItMissedThenFollowsLive() throws Exception {
    TurnLog log = released("t");
    log.append(delta(0));
    log.append(delta(1));
    CompletableFuture<List<TurnEvent>> late = collect(log, 0);
    CompletableFuture<List<TurnEvent>> reconnected = collect(log, 1);
    log.append(delta(2));
    assertFalse(late.isDone(), "a subscription ends only when the log closes");
    log.close(DONE);

    assertEquals(List.of(delta(0), delta(1), delta(2), DONE), await(late));
    assertEquals(List.of(delta(1), delta(2), DONE), await(reconnected));
  }

  @Test
  void everySubscriberGetsTheWholeTurnWhenEverItJoins() throws Exception {
    TurnLog log = released("t");
    List<CompletableFuture<List<TurnEvent>>> subscribers = new ArrayList<>();
    List<TurnEvent> expected = new ArrayList<>();
    for (int i = 0; i < 1000; i++) {
      if (i % 10 == 0) {
        subscribers.add(collect(log, 0));
      }
      log.append(delta(i));
      expected.add(delta(i));
    }
    log.close(DONE);
    expected.add(DONE);

    assertEquals(100, subscribers.size());
    for (CompletableFuture<List<TurnEvent>> subscriber : subscribers) {
      assertEquals(expected, await(subscriber));
    }
  }

  @Test
  void aSlowSubscriberHoldsUpNeitherTheTurnNorTheOthers() throws Exception {
    TurnLog log = released("t");
    Pair<UniqueKillSwitch, CompletionStage<List<TurnEvent>>> slow = log.batches(0).<TurnEvent>mapConcat(batch -> batch)
        .throttle(1, Duration.ofSeconds(1))
        .viaMat(KillSwitches.single(), Keep.right())
        .toMat(Sink.seq(), Keep.both())
        .run(testKit.system());
    CompletableFuture<List<TurnEvent>> fast = collect(log, 0);

    // The writer never waits for readers: 10,000 appends return while the slow one has read ~1.
    IntStream.range(0, 10_000).forEach(i -> log.append(delta(i)));
    log.close(DONE);

    assertEquals(10_001, await(fast).size());
    assertFalse(slow.second().toCompletableFuture().isDone());
    slow.first().shutdown();
    assertEquals(List.of(delta(0)), slow.second().toCompletableFuture().get(10, TimeUnit.SECONDS).subList(0, 1));
  }

  @Test
  void eventsAfterTheCloseAreDropped() throws Exception {
    TurnLog log = released("t");
    log.append(delta(0));
    log.close(DONE);
    log.append(delta(1));
    log.close(new TurnEvent.Failed("again", "TEST", List.of()));

    assertEquals(List.of(delta(0), DONE), await(collect(log, 0)));
  }

  @Test
  void aHeldLogShowsNothingUntilReleased() throws Exception {
    TurnLog log = TurnLog.held("t");
    log.append(new TurnEvent.Started("t", "m"));
    var first = log.eventsFrom(0).toCompletableFuture();
    assertFalse(first.isDone(), "the input is not durable yet");
    log.release();
    assertEquals(List.of(new TurnEvent.Started("t", "m")), first.get(5, TimeUnit.SECONDS));
  }

  /** Its input never became durable: no answer to it may be seen, only why the turn ended. */
  @Test
  void aLogClosedWhileHeldShowsOnlyItsLastEvent() throws Exception {
    TurnLog log = TurnLog.held("t");
    log.append(new TurnEvent.Started("t", "m"));
    log.append(delta(0));
    TurnEvent.Failed storage = new TurnEvent.Failed("not saved", "STORAGE", List.of());
    log.close(storage);

    assertEquals(List.of(storage), await(collect(log, 0)));
  }

  static TurnLog released(String turnId) {
    TurnLog log = TurnLog.held(turnId);
    log.release();
    return log;
  }
}
