package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.List;
import java.util.function.Function;
import org.apache.pekko.Done;
import org.apache.pekko.NotUsed;
import org.apache.pekko.pattern.Patterns;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The turn cap's bookkeeping where the HTTP tests cannot reach: a stream the server never sends. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class AdmissionTest {
  static final ActorTestKit testKit = ActorTestKit.create(ConfigFactory.parseString(
      "pekko.stream.materializer.subscription-timeout.timeout = 300ms"));

  @AfterAll
  static void shutdown() {
    testKit.shutdownTestKit();
  }

  static CompletionStage<HttpResponse> endless(HttpRequest request, Admission.Place place) {
    return CompletableFuture.completedFuture(HttpResponse.create().withEntity(HttpEntities.createChunked(
        ContentTypes.TEXT_PLAIN_UTF8, place.running(Source.repeat(ByteString.fromString("."))
            .throttle(1, Duration.ofMillis(50))))));
  }

  @Test
  void idleOnceTheLastRunningTurnHasBeenAnswered() throws Exception {
    Admission admission = new Admission(2, Duration.ZERO, Materializer.matFromSystem(testKit.system()));
    assertTrue(admission.quietFor(Duration.ZERO).toCompletableFuture().isDone(), "idle before any turn");
    CompletableFuture<HttpResponse> first = new CompletableFuture<>();
    CompletableFuture<HttpResponse> second = new CompletableFuture<>();
    admission.limiting((request, place) -> first).apply(HttpRequest.create());
    admission.limiting((request, place) -> second).apply(HttpRequest.create());
    CompletableFuture<Done> idle = admission.quietFor(Duration.ZERO).toCompletableFuture();
    first.complete(HttpResponse.create());
    assertFalse(idle.isDone(), "idle while a turn still runs");
    second.complete(HttpResponse.create());
    idle.get(5, TimeUnit.SECONDS);
    CompletableFuture<HttpResponse> third = new CompletableFuture<>();
    admission.limiting((request, place) -> third).apply(HttpRequest.create());
    assertFalse(admission.quietFor(Duration.ZERO).toCompletableFuture().isDone(), "idle while a new turn runs");
  }

  /** Quiet only once the last turn ended long enough ago: the rehearsal waits while clients come and go. */
  @Test
  void quietOnceNoTurnHasRunForTheGivenTime() throws Exception {
    Admission admission = new Admission(1, Duration.ZERO, Materializer.matFromSystem(testKit.system()));
    Duration quiet = Duration.ofMillis(400);
    assertTrue(admission.quietFor(quiet).toCompletableFuture().isDone(), "quiet before any turn");
    CompletableFuture<HttpResponse> answer = new CompletableFuture<>();
    admission.limiting((request, place) -> answer).apply(HttpRequest.create());
    CompletableFuture<Done> quietAfterTheTurn = admission.quietFor(quiet).toCompletableFuture();
    answer.complete(HttpResponse.create());
    long ended = System.nanoTime();
    assertFalse(admission.quietFor(quiet).toCompletableFuture().isDone(), "quiet right after a turn ended");
    quietAfterTheTurn.get(5, TimeUnit.SECONDS);
    assertTrue(System.nanoTime() - ended >= quiet.toNanos(), "quiet before the time had passed");
    assertTrue(admission.quietFor(quiet).toCompletableFuture().isDone(), "quiet once it has");
  }

  /**
   * An answer the server takes only once its status line has been held (a model slow to start),
   * later than the materializer's subscription timeout, is sent whole.
   */
  @Test
  void anAnswerHeldBackLongerThanTheSubscriptionTimeoutIsSentWhole() throws Exception {
    Duration held = Duration.ofSeconds(2);
    Admission admission = new Admission(1, held, Materializer.matFromSystem(testKit.system()));
    CompletableFuture<Source<Integer, NotUsed>> answer = new CompletableFuture<>();
    admission.limiting((request, place) -> {
      answer.complete(place.running(Source.range(1, 5)));
      return new CompletableFuture<>();
    }).apply(HttpRequest.create());
    // taken after the subscription timeout (300 ms), within the hold
    CompletionStage<Source<Integer, NotUsed>> taken = Patterns.after(Duration.ofMillis(900),
        testKit.system().classicSystem(), () -> answer);
    List<Integer> sent = taken.thenCompose(source -> source.runWith(Sink.seq(),
        Materializer.matFromSystem(testKit.system()))).toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertEquals(List.of(1, 2, 3, 4, 5), sent);
  }

  @Test
  void aStreamThatIsNeverSentGivesItsPlaceBack() throws Exception {
    Function<HttpRequest, CompletionStage<HttpResponse>> limited =
        new Admission(1, Duration.ZERO, Materializer.matFromSystem(testKit.system())).limiting(AdmissionTest::endless);
    limited.apply(HttpRequest.create()).toCompletableFuture().get(5, TimeUnit.SECONDS); // the client left: never sent
    ApiError full = assertThrows(ApiError.class, () -> limited.apply(HttpRequest.create()));
    assertEquals(429, full.response().status().intValue());

    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    while (true) {
      try {
        limited.apply(HttpRequest.create());
        return;
      } catch (ApiError stillFull) {
        if (System.nanoTime() > deadline) {
          throw new AssertionError("the place of a stream never sent was not given back");
        }
        Thread.sleep(20); // a poll interval, not a timed assertion
      }
    }
  }
}
