package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.config.GatewaySettings;
import dev.talon.testing.ErrorBodies;
import dev.talon.testing.PrometheusText;
import dev.talon.testing.Script;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code GET /metrics}: what a node's turns move, read back through a strict reader of
 * Prometheus' text format, and who may read it. The node's default agent tries {@code local/a},
 * then {@code backup/b} (see {@link TalonApi}); every number is compared with a scrape taken just
 * before, since the tests share the node.
 */
class MetricsTest extends OnANode {
  static final String TURNS_STARTED = "talon_turns_started_total";
  static final String TURNS_COMPLETED = "talon_turns_completed_total";
  static final String TURNS_FAILED = "talon_turns_failed_total";

  PrometheusText scrape() throws Exception {
    HttpResponse<String> response = api.get("/metrics");
    assertEquals(200, response.statusCode(), response.body());
    assertEquals("text/plain; version=0.0.4; charset=UTF-8",
        response.headers().firstValue("content-type").orElse(""));
    return PrometheusText.parse(response.body());
  }

  HttpResponse<String> turn(String json) throws Exception {
    return api.post("/v1/responses", json);
  }

  /** The change of one sample between two scrapes. */
  static double moved(PrometheusText before, PrometheusText after, String name, String... labels) {
    return after.value(name, labels) - before.value(name, labels);
  }

  /** The sum of every sample named {@code name}, whatever its labels. */
  static double total(PrometheusText scrape, String name) {
    return scrape.families().values().stream().flatMap(family -> family.samples().entrySet().stream())
        .filter(sample -> sample.getKey().name().equals(name)).mapToDouble(sample -> sample.getValue()).sum();
  }

  /**
   * Three turns: one answered by the primary, one that fails over to the fallback after the
   * primary answered 500 twice (it is then cooling down, so the next turn tries the fallback
   * first), and one that fails because both models refuse the request.
   */
  @Test
  void turnsFailoversCallsAndJournalWritesAreCounted() throws Exception {
    PrometheusText before = scrape();
    api.fake.enqueue(Script.reply("Hello there, my friend.").usage(5, 6).tokenDelay(Duration.ofMillis(5)));
    assertEquals(200, turn("{\"input\":\"hi\"}").statusCode());
    api.fake.enqueue(Script.status(500, ErrorBodies.openAiServerError()),
        Script.status(500, ErrorBodies.openAiServerError()), Script.reply("From the fallback."));
    HttpResponse<String> failedOver = turn("{\"input\":\"again\"}");
    assertEquals(200, failedOver.statusCode(), failedOver.body());
    assertEquals("backup/b", TalonApi.json(failedOver).path("model").asText());
    api.fake.enqueue(Script.status(400, ErrorBodies.openAi("bad", "invalid_request_error", null, null)),
        Script.status(400, ErrorBodies.openAi("bad", "invalid_request_error", null, null)));
    HttpResponse<String> failed = turn("{\"input\":\"once more\"}");
    assertTrue(failed.statusCode() >= 400, failed.body());
    PrometheusText after = scrape();

    assertEquals(2, moved(before, after, TURNS_STARTED, "model", "local/a"));
    assertEquals(1, moved(before, after, TURNS_STARTED, "model", "backup/b"), "the primary was cooling down");
    assertEquals(1, moved(before, after, TURNS_COMPLETED, "model", "local/a"));
    assertEquals(1, moved(before, after, TURNS_COMPLETED, "model", "backup/b"));
    assertEquals(1, moved(before, after, TURNS_FAILED, "model", "local/a", "reason", "BAD_REQUEST"),
        "by the model tried last");
    assertEquals(1, total(after, TURNS_FAILED) - total(before, TURNS_FAILED));
    assertEquals(1, moved(before, after, "talon_failovers_total", "model", "local/a"));
    assertEquals(1, moved(before, after, "talon_failovers_total", "model", "backup/b"));
    assertEquals(4, moved(before, after, "talon_model_calls_total", "model", "local/a"), "a retry is a call");
    assertEquals(2, moved(before, after, "talon_model_calls_total", "model", "backup/b"));
    assertEquals(2, moved(before, after, "talon_model_call_failures_total", "model", "local/a", "kind",
        "SERVER_ERROR"));
    assertEquals(1, moved(before, after, "talon_model_call_failures_total", "model", "backup/b", "kind",
        "BAD_REQUEST"));
    assertEquals(1, moved(before, after, "talon_model_first_token_seconds_count", "model", "local/a"));
    assertEquals(1, moved(before, after, "talon_model_first_token_seconds_count", "model", "backup/b"));
    assertEquals(1, moved(before, after, "talon_model_output_tokens_per_second_count", "model", "local/a"));
    double rate = moved(before, after, "talon_model_output_tokens_per_second_sum", "model", "local/a");
    assertTrue(rate > 0 && rate < 6 / 0.005, "6 tokens, the later ones 5 ms apart: " + rate);
    assertEquals(3, moved(before, after, "talon_journal_write_seconds_count", "event", "turn_started"));
    assertEquals(2, moved(before, after, "talon_journal_write_seconds_count", "event", "turn_completed"));
    assertEquals(3, moved(before, after, "talon_conversations_resident"), "each turn without a key is a conversation");
  }

  @Test
  void aCompactionIsCountedAndItsSummaryIsNotATurn() throws Exception {
    api.fake.enqueue(Script.reply("First answer."), Script.reply("Second answer."));
    for (String input : new String[] {"first question", "second question"}) {
      assertEquals(200, api.post("/v1/responses", "{\"input\":\"" + input + "\"}", TurnRequest.SESSION_HEADER,
          "metrics-compaction").statusCode());
    }
    PrometheusText before = scrape();
    api.fake.enqueue(Script.reply("SUMMARY: two questions were asked."));
    HttpResponse<String> compacted = api.post("/v1/conversations/metrics-compaction/compact", "");
    assertEquals(200, compacted.statusCode(), compacted.body());
    PrometheusText after = scrape();
    assertEquals(1, moved(before, after, "talon_compactions_total", "trigger", "manual"));
    assertEquals(1, total(after, "talon_model_calls_total") - total(before, "talon_model_calls_total"));
    assertEquals(0, total(after, TURNS_STARTED) - total(before, TURNS_STARTED), "a summary is not a turn");
  }

  @Test
  void aConversationThatIsErasedLeavesMemory() throws Exception {
    api.fake.enqueue(Script.reply("Noted."));
    assertEquals(200, api.post("/v1/responses", "{\"input\":\"remember\"}", TurnRequest.SESSION_HEADER,
        "metrics-erased").statusCode());
    double resident = scrape().value("talon_conversations_resident");
    HttpResponse<String> deleted = api.http.send(api.request("/v1/conversations/metrics-erased").DELETE().build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, deleted.statusCode(), deleted.body());
    // The conversation stops a moment after the erasure is answered.
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (scrape().value("talon_conversations_resident") != resident - 1 && System.nanoTime() < deadline) {
      LockSupport.parkNanos(Duration.ofMillis(20).toNanos()); // a poll interval, not a timed assertion
    }
    assertEquals(resident - 1, scrape().value("talon_conversations_resident"));
  }

  @Test
  void aStreamHoldsItsPlaceInTheGatewayUntilItEnds() throws Exception {
    int seen = api.fake.requests().size();
    api.fake.enqueue(Script.reply("Slow to start.").firstTokenDelay(Duration.ofSeconds(2)));
    CompletableFuture<HttpResponse<String>> streamed = api.http.sendAsync(api.request("/v1/responses")
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"input\":\"hi\",\"stream\":true}")).build(),
        HttpResponse.BodyHandlers.ofString());
    api.fake.awaitRequests(seen + 1, Duration.ofSeconds(10));
    assertEquals(1, scrape().value("talon_gateway_active_turns"), "the model has the request, the turn runs");
    assertEquals(200, streamed.get(30, TimeUnit.SECONDS).statusCode());
  }

  @Test
  void theTokenIsRequired() throws Exception {
    HttpRequest.Builder anonymous = HttpRequest.newBuilder(URI.create(api.baseUrl().replace("/v1", "/metrics")))
        .timeout(Duration.ofSeconds(10));
    assertEquals(401, api.http.send(anonymous.build(), HttpResponse.BodyHandlers.ofString()).statusCode());
    assertEquals(401, api.http.send(anonymous.header("Authorization", "Bearer wrong").build(),
        HttpResponse.BodyHandlers.ofString()).statusCode());
  }

  @Test
  void publicMetricsNeedNoTokenButTheApiStillDoes(@TempDir Path data) throws Exception {
    try (TalonApi open = TalonApi.start(data, TalonApi.TOKEN, "", settings -> new GatewaySettings(settings.port(),
        settings.bind(), settings.authToken(), settings.exposeReasoning(), settings.keepAlive(), settings.browsers(),
        settings.limits(), settings.responseIdSecret(), true))) {
      String base = open.baseUrl().replace("/v1", "");
      HttpResponse<String> metrics = open.http.send(HttpRequest.newBuilder(URI.create(base + "/metrics"))
          .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(200, metrics.statusCode(), metrics.body());
      assertTrue(PrometheusText.parse(metrics.body()).families().containsKey("talon_conversations_resident"));
      assertEquals(401, open.http.send(HttpRequest.newBuilder(URI.create(base + "/v1/models"))
          .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
    }
  }
}
