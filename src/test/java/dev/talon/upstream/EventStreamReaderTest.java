package dev.talon.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.talon.testing.TestResources;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.sse.ServerSentEvent;
import org.apache.pekko.http.javadsl.unmarshalling.sse.EventStreamUnmarshalling;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * The event-stream reader finds the same events as Pekko HTTP's own unmarshaller in every
 * recorded stream and in the corners of the format, however the bytes are split.
 */
class EventStreamReaderTest {
  static final ActorTestKit testKit = ActorTestKit.create();
  static final int[] CHUNK_SIZES = {1, 2, 3, 7, 64, 1 << 20};

  @AfterAll
  static void shutdown() {
    testKit.shutdownTestKit();
  }

  /** An event as both readers tell it: its type (null when unnamed) and data. */
  record Event(String type, String data) {}

  static List<Event> pekko(byte[] body) throws Exception {
    var entity = HttpEntities.create(MediaTypes.TEXT_EVENT_STREAM.toContentType(), Source.single(ByteString.fromArray(body)));
    List<ServerSentEvent> events = EventStreamUnmarshalling.fromEventsStream(testKit.system().classicSystem())
        .unmarshal(entity, testKit.system())
        .thenCompose(source -> source.runWith(Sink.seq(), testKit.system()))
        .toCompletableFuture().get(10, TimeUnit.SECONDS);
    return events.stream().map(e -> new Event(e.getEventType().orElse(null), e.getData())).toList();
  }

  static List<Event> reader(byte[] body, int chunkSize) {
    EventStreamReader reader = new EventStreamReader(1 << 20, 1 << 20);
    List<Event> events = new ArrayList<>();
    for (int i = 0; i < body.length; i += chunkSize) {
      reader.read(ByteString.fromArray(body, i, Math.min(chunkSize, body.length - i)),
          (type, data) -> events.add(new Event(type, data.text())));
    }
    return events;
  }

  static void sameEvents(byte[] body) throws Exception {
    List<Event> expected = pekko(body);
    for (int size : CHUNK_SIZES) {
      assertEquals(expected, reader(body, size), "split every " + size + " bytes:\n"
          + new String(body, StandardCharsets.UTF_8));
    }
  }

  @Test
  void everyRecordedStreamReadsAsPekkoReadsIt() throws Exception {
    try (Stream<Path> files = Files.list(TestResources.upstreamFixture(""))) {
      List<String> names = files.map(p -> p.getFileName().toString())
          .filter(n -> n.endsWith(".sse") || n.endsWith(".chunks.jsonl")).sorted().toList();
      assertFalse(names.isEmpty());
      for (String name : names) {
        byte[] body = ParsedStream.fixtureBody(name);
        assertFalse(pekko(body).isEmpty(), name);
        sameEvents(body);
      }
    }
  }

  @Test
  void theCornersOfTheFormatReadAsPekkoReadsThem() throws Exception {
    for (String body : List.of(
        "data: a\n\ndata: b\n\n",
        "data: a\r\n\r\ndata: b\r\n\r\n",
        "data: a\r\rdata: b\r\r",
        "data: one\ndata: two\n\n",
        "data:no space\n\n",
        "data:  two spaces\n\n",
        "event: ping\n\nevent: named\ndata: x\n\n",
        ": a comment\ndata: x\n: another\n\n",
        "id: 7\nretry: 100\ndata: x\n\n",
        "data\ndata: x\n\n",
        "data:\ndata: x\n\n",
        "event:\ndata: x\n\n",
        "event: a\nevent: b\ndata: x\n\n",
        "unknown: field\ndata: x\n\n",
        "data: {\"text\": \"é 中 😀\"}\n\n",
        "data: x\n\n\n\ndata: y\n\n",
        "data: a: b: c\n\n",
        "data: kept\n\ndata: unfinished at the end\n",
        "data: no blank line at the end")) {
      sameEvents(body.getBytes(StandardCharsets.UTF_8));
    }
  }

  @Test
  void aListenerStopsTheReading() {
    EventStreamReader reader = new EventStreamReader(1 << 20, 1 << 20);
    List<String> seen = new ArrayList<>();
    assertFalse(reader.read(ByteString.fromString("data: 1\n\ndata: 2\n\ndata: 3\n\n"), (type, data) -> {
      seen.add(data.text());
      return !data.text().equals("2");
    }));
    assertEquals(List.of("1", "2"), seen);
  }

  @Test
  void aLineOrAnEventOverItsLimitFails() {
    EventStreamReader lines = new EventStreamReader(16, 1 << 20);
    assertThrows(IllegalStateException.class,
        () -> lines.read(ByteString.fromString("data: " + "x".repeat(32)), (type, data) -> true));
    EventStreamReader events = new EventStreamReader(1 << 20, 16);
    assertThrows(IllegalStateException.class,
        () -> events.read(ByteString.fromString("data: " + "x".repeat(10) + "\ndata: " + "y".repeat(10) + "\n"),
            (type, data) -> true));
  }
}
