package dev.talon.conversation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** Messages of any size cut into pieces that fit a frame, and put back together in order. */
class ParcelsTest {
  /** A 1 KiB frame: pieces of 512 bytes. */
  static final ActorTestKit testKit = ActorTestKit.create("ParcelsTest", ConfigFactory
      .parseString("pekko.remote.artery.advanced.maximum-frame-size = 1 KiB").withFallback(ConfigFactory.load()));
  static final Parcels parcels = Parcels.of(testKit.system());

  @AfterAll
  static void shutdown() {
    testKit.shutdownTestKit();
  }

  static final List<TurnEvent> EVENTS = List.of(new TurnEvent.Started("t1", "local/a"), new TurnEvent.TextDelta(""),
      new TurnEvent.TextDelta("x".repeat(400)), new TurnEvent.TextDelta("y".repeat(1_000)),
      new TurnEvent.TextDelta("\uD83D\uDE00 ü \u2028 ".repeat(300)), new TurnEvent.ReasoningDelta("z".repeat(100_000)),
      new TurnEvent.Failed("gone", "INTERRUPTED", List.of()));

  @Test
  void messagesOfEverySizeComeBackWholeAndInOrder() throws Exception {
    List<Object> back = Source.from(EVENTS).via(parcels.<TurnEvent>parcels()).via(parcels.messages())
        .runWith(Sink.seq(), testKit.system()).toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertEquals(EVENTS, back);
  }

  @Test
  void everyPieceFitsAFrameAndPiecesBatchedTogetherStillSplit() throws Exception {
    List<ByteString> pieces = EVENTS.stream().flatMap(event -> parcels.pieces(parcels.serialize(event)).stream())
        .toList();
    assertTrue(pieces.size() > EVENTS.size(), "large events are cut");
    pieces.forEach(piece -> assertTrue(piece.size() <= 512 + 5, "a piece of " + piece.size() + " bytes"));
    // a reader that fell behind gets several pieces in one element, cut anywhere between pieces
    ByteString first = pieces.subList(0, 3).stream().reduce(ByteString.emptyByteString(), ByteString::concat);
    ByteString rest = pieces.subList(3, pieces.size()).stream().reduce(ByteString.emptyByteString(),
        ByteString::concat);
    List<Object> back = Source.from(List.of(first, rest)).via(parcels.messages())
        .runWith(Sink.seq(), testKit.system()).toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertEquals(EVENTS, back);
  }

  @Test
  void oneParceledMessageIsReceivedWhole() throws Exception {
    ConversationEntity.Transcript transcript = new ConversationEntity.Transcript(List.of(), 7, null);
    ByteString serialized = parcels.serialize(transcript);
    assertEquals(transcript, parcels.receive(parcels.send(serialized), ConversationEntity.Transcript.class)
        .toCompletableFuture().get(10, TimeUnit.SECONDS));
  }

  @Test
  void onlyAMessageLargerThanAFrameIsParceled() throws Exception {
    assertTrue(parcels.ifTooLargeForAFrame(new TurnEvent.TextDelta("small")).isEmpty());
    TurnEvent.TextDelta large = new TurnEvent.TextDelta("z".repeat(5_000));
    assertEquals(large, parcels.receive(parcels.ifTooLargeForAFrame(large).orElseThrow(), TurnEvent.TextDelta.class)
        .toCompletableFuture().get(10, TimeUnit.SECONDS));
    assertTrue(Parcels.of(testKit.system()) == parcels, "one per actor system");
  }
}
