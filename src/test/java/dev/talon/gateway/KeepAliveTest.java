package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class KeepAliveTest {
  static final ActorTestKit testKit = ActorTestKit.create();

  @AfterAll
  static void stop() {
    testKit.shutdownTestKit();
  }

  @Test
  void aSilentStreamGetsAKeepAliveEachInterval() throws Exception {
    List<String> seen = Source.single("event").concat(Source.<String>maybe())
        .via(KeepAlive.of(Duration.ofMillis(40), () -> "keep-alive"))
        .take(3)
        .runWith(Sink.seq(), testKit.system())
        .toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertEquals(List.of("event", "keep-alive", "keep-alive"), seen);
  }

  @Test
  void aBusyStreamPassesUnchangedAndEnds() throws Exception {
    List<Integer> elements = IntStream.range(0, 10_000).boxed().toList();

    List<Integer> seen = Source.from(elements)
        .via(KeepAlive.of(Duration.ofHours(1), () -> -1))
        .runWith(Sink.seq(), testKit.system())
        .toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertEquals(elements, seen);
  }

  @Test
  void anElementThatCameDuringAKeepAliveWaitsForTheNextPullAndTheEndAfterIt() throws Exception {
    // The keep-alive goes out while the client waits; the element that follows arrives with no
    // demand left, is held, and the end of the stream waits for it.
    List<String> seen = Source.single("late").initialDelay(Duration.ofMillis(150))
        .via(KeepAlive.of(Duration.ofMillis(20), () -> "keep-alive"))
        .runWith(Sink.seq(), testKit.system())
        .toCompletableFuture().get(10, TimeUnit.SECONDS);

    assertEquals("late", seen.get(seen.size() - 1));
    assertEquals(List.of(), seen.subList(0, seen.size() - 1).stream().filter(e -> !e.equals("keep-alive")).toList());
  }
}
