package dev.talon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.testing.FakeUpstream;
import dev.talon.testing.PrometheusText;
import dev.talon.testing.Script;
import dev.talon.testing.TalonProcess;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code GET /metrics} of {@code talon serve} as a process of its own: the JVM's metrics beside the
 * node's, all of it valid text format, and only clients' turns counted (not the start-up rehearsal's).
 */
class ServeMetricsTest {
  static final Duration START = Duration.ofSeconds(90);
  static final Duration CALL = Duration.ofSeconds(30);

  @TempDir Path dir;
  final HttpClient http = HttpClient.newHttpClient();

  @Test
  void servesTheJvmsMetricsAndCountsClientsTurns() throws Exception {
    try (FakeUpstream fake = FakeUpstream.start()) {
      Path config = TalonProcess.writeConfig(dir, fake, "{}");
      try (TalonProcess talon = TalonProcess.start(config, dir.resolve("data"), START)) {
        fake.enqueue(Script.reply("Counted."));
        HttpResponse<String> turn = http.send(talon.request("/v1/responses").timeout(CALL)
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString("{\"input\":\"hi\"}")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, turn.statusCode(), turn.body());
        HttpResponse<String> metrics = http.send(talon.request("/metrics").timeout(CALL).build(),
            HttpResponse.BodyHandlers.ofString());
        assertEquals(200, metrics.statusCode(), metrics.body());
        PrometheusText scrape = PrometheusText.parse(metrics.body());
        for (String family : new String[] {"jvm_memory_used_bytes", "jvm_gc_collection_seconds", "jvm_threads_current",
            "process_cpu_seconds_total"}) {
          assertTrue(scrape.families().containsKey(family), family + " in " + scrape.families().keySet());
        }
        assertTrue(scrape.value("jvm_memory_used_bytes", "area", "heap") > 0, metrics.body());
        assertEquals(1, scrape.value("talon_turns_started_total", "model", "local/a"), metrics.body());
        assertEquals(1, scrape.value("talon_turns_completed_total", "model", "local/a"), metrics.body());
        assertEquals(1, scrape.families().get("talon_turns_started_total").samples().size(),
            "the rehearsal's turns count apart: " + metrics.body());
      }
    }
  }
}
