package dev.talon.conversation;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.talon.config.ConfigLoader;
import dev.talon.config.Model;
import dev.talon.testing.PrometheusText;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import java.io.ByteArrayOutputStream;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** How {@link NodeMetrics} counts a turn's end, and keeps every label within a bounded set. */
class NodeMetricsTest {
  static final ActorTestKit testKit = ActorTestKit.create();
  /** Labels name {@code local/alpha} and {@code local/beta}, the catalog's models. */
  final NodeMetrics metrics = new NodeMetrics(ConversationFixtures.config().catalog().models());

  @AfterAll
  static void shutdown() {
    testKit.shutdownTestKit();
  }

  PrometheusText scrape() throws Exception {
    ByteArrayOutputStream text = new ByteArrayOutputStream();
    PrometheusTextFormatWriter.create().write(text, metrics.registry().scrape());
    return PrometheusText.parse(text.toString(java.nio.charset.StandardCharsets.UTF_8));
  }

  /** Runs a turn whose runner streams {@code events}, through the counting runner, to its end. */
  void run(Source<TurnEvent, NotUsed> events) throws Exception {
    TurnRunner runner = (turnId, candidates, view, midStream) -> events;
    metrics.counting(runner).run("t", List.of(), null, null).runWith(Sink.ignore(), testKit.system())
        .toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  static TurnResult answeredBy(String model) {
    return new TurnResult(List.of(), "", model, List.of(), null, 0, "stop", List.of());
  }

  @Test
  void aTurnEndsOnceAsCompletedFailedOrStopped() throws Exception {
    run(Source.from(List.of(new TurnEvent.Started("t", "local/alpha"),
        new TurnEvent.ModelSwitched("local/alpha", "local/beta", "down", false),
        new TurnEvent.Completed(answeredBy("local/beta")))));
    run(Source.from(List.of(new TurnEvent.Started("t", "local/alpha"),
        new TurnEvent.ModelSwitched("local/alpha", "local/beta", "down", false),
        new TurnEvent.Failed("both down", "SERVER_ERROR", List.of()))));
    // The conversation's kill switch: the stream ends without an outcome.
    run(Source.from(List.<TurnEvent>of(new TurnEvent.Started("t", "local/beta"))));
    run(Source.single(new TurnEvent.Failed("no model to try", "UNAVAILABLE", List.of())));
    PrometheusText scrape = scrape();
    assertEquals(2, scrape.value("talon_turns_started_total", "model", "local/alpha"));
    assertEquals(1, scrape.value("talon_turns_started_total", "model", "local/beta"));
    assertEquals(1, scrape.value("talon_turns_completed_total", "model", "local/beta"));
    assertEquals(1, scrape.value("talon_turns_failed_total", "model", "local/beta", "reason", "SERVER_ERROR"),
        "the model tried last");
    assertEquals(1, scrape.value("talon_turns_failed_total", "model", "local/beta", "reason", "CANCELLED"));
    assertEquals(1, scrape.value("talon_turns_failed_total", "model", "none", "reason", "UNAVAILABLE"),
        "no model was tried");
  }

  @Test
  void labelsOutsideTheConfigAndTheKnownKindsAreOther() throws Exception {
    // A ref a client made up on a built-in provider, and a kind no upstream failure has.
    run(Source.from(List.of(new TurnEvent.Started("t", "openai/made-up"),
        new TurnEvent.Failed("broken", "SOMETHING_NEW", List.of()))));
    Model elsewhere = ConfigLoader.parse("{ models: { mode: 'replace', providers: { elsewhere: {"
        + " baseUrl: 'http://127.0.0.1:1/v1', models: [{ id: 'x' }] } } } }", "other.json5", Map.<String, String>of()::get)
        .catalog().resolve("elsewhere/x");
    metrics.called(elsewhere);
    metrics.compacted("whenever");
    PrometheusText scrape = scrape();
    assertEquals(1, scrape.value("talon_turns_started_total", "model", "other"));
    assertEquals(1, scrape.value("talon_turns_failed_total", "model", "other", "reason", "other"));
    assertEquals(1, scrape.value("talon_model_calls_total", "model", "other"));
    assertEquals(1, scrape.value("talon_compactions_total", "trigger", "other"));
  }

  @Test
  void aRateNeedsTokensAndTime() throws Exception {
    Model alpha = ConversationFixtures.config().catalog().resolve("local/alpha");
    metrics.generated(alpha, 0, 1_000_000);
    metrics.generated(alpha, 10, 0);
    metrics.generated(alpha, 10, 500_000_000);
    PrometheusText scrape = scrape();
    assertEquals(1, scrape.value("talon_model_output_tokens_per_second_count", "model", "local/alpha"));
    assertEquals(20, scrape.value("talon_model_output_tokens_per_second_sum", "model", "local/alpha"), 1e-9);
  }
}
