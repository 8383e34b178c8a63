package dev.talon.gateway;

import static dev.talon.gateway.ApiErrorsTest.assertError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.config.GatewaySettings;
import dev.talon.testing.Script;
import java.io.InputStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A burst of requests far beyond what a node serves at once is answered, every one: turns up to
 * gateway.maxConcurrentTurns run, the rest get a quick 429 with Retry-After; no connection is
 * reset or left unanswered.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BurstTest {
  static final int REQUESTS = 1000;
  static final int MAX_TURNS = 16;

  static TalonApi node(Path data, int maxTurns) throws Exception {
    return TalonApi.start(data, TalonApi.TOKEN, "", settings -> new GatewaySettings(settings.port(),
        settings.bind(), settings.authToken(), settings.exposeReasoning(), settings.keepAlive(), settings.browsers(),
        new GatewaySettings.Limits(settings.limits().maxBodyBytes(), maxTurns, settings.limits().backlog(),
            settings.limits().askTimeout(), settings.limits().bodyReadTimeout(), settings.limits().drain()),
        settings.responseIdSecret(), settings.publicMetrics()));
  }

  @Test
  void aThousandConcurrentPostsAreAllAnswered(@TempDir Path data) throws Exception {
    try (TalonApi api = node(data, MAX_TURNS)) {
      // turns that last, so the burst meets a full node
      api.fake.setDefault(Script.reply("ok").firstTokenDelay(Duration.ofMillis(500)));
      // HTTP/1.1: every request in flight needs a connection of its own, so all 1,000 are opened at once
      HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(30)).build();
      List<CompletableFuture<HttpResponse<String>>> all = new ArrayList<>();
      for (int i = 0; i < REQUESTS; i++) {
        // every tenth on a shared conversation, which is busy: 409
        String key = i % 10 == 0 ? "burst-shared" : "burst-" + i;
        all.add(client.sendAsync(api.request("/v1/responses").version(HttpClient.Version.HTTP_1_1)
            .timeout(Duration.ofSeconds(60)).header("Content-Type", "application/json")
            .header(TurnRequest.SESSION_HEADER, key)
            .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"openclaw\",\"input\":\"hi\"}")).build(),
            HttpResponse.BodyHandlers.ofString()));
      }
      CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).exceptionally(e -> null)
          .get(90, TimeUnit.SECONDS);

      Map<String, Integer> outcomes = new TreeMap<>();
      HttpResponse<String> tooMany = null;
      for (CompletableFuture<HttpResponse<String>> request : all) {
        String outcome = request.handle((response, failure) -> failure != null
            ? failure.getClass().getSimpleName() + ": " + failure.getMessage()
            : Integer.toString(response.statusCode())).join();
        outcomes.merge(outcome, 1, Integer::sum);
        if (!request.isCompletedExceptionally() && request.join().statusCode() == 429) {
          tooMany = request.join();
        }
      }
      assertEquals(REQUESTS, outcomes.entrySet().stream()
          .filter(e -> List.of("200", "409", "429").contains(e.getKey())).mapToInt(Map.Entry::getValue).sum(),
          () -> "every request answered with 200, 409 or 429: " + outcomes);
      assertTrue(outcomes.getOrDefault("200", 0) >= MAX_TURNS / 2, outcomes::toString);
      assertTrue(tooMany != null, () -> "the burst went beyond the cap: " + outcomes);
      assertError(tooMany, 429, "rate_limit_error", "too_many_turns", null);
      assertEquals("1", tooMany.headers().firstValue("Retry-After").orElse(null));

      // and the node serves normally once the burst is over
      HttpResponse<String> after = api.post("/v1/responses", "{\"model\":\"openclaw\",\"input\":\"hi\"}",
          TurnRequest.SESSION_HEADER, "burst-after");
      assertEquals(200, after.statusCode(), after.body());
    }
  }

  @Test
  void aStreamedTurnHoldsItsPlaceUntilItsStreamEndsOrItsClientLeaves(@TempDir Path data) throws Exception {
    try (TalonApi api = node(data, 1)) {
      api.fake.setDefault(Script.reply("one two three four five six").tokenDelay(Duration.ofMillis(150)));
      String hi = "{\"model\":\"openclaw\",\"input\":\"hi\"}";
      try (InputStream stream = openStream(api, "place-1")) {
        assertEquals(429, api.post("/v1/responses", hi, TurnRequest.SESSION_HEADER, "place-2").statusCode(),
            "the running stream holds the only place");
        assertTrue(new String(stream.readAllBytes(), StandardCharsets.UTF_8).contains("response.completed"));
      }
      awaitServed(api, hi, "place-3");

      InputStream left = openStream(api, "place-4");
      left.close(); // the client goes away mid-stream
      awaitServed(api, hi, "place-5");
    }
  }

  /** A streamed turn, read up to its first event. */
  static InputStream openStream(TalonApi api, String key) throws Exception {
    HttpResponse<InputStream> response = api.http.send(api.request("/v1/responses")
        .header("Content-Type", "application/json").header(TurnRequest.SESSION_HEADER, key)
        .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"openclaw\",\"input\":\"hi\",\"stream\":true}"))
        .build(), HttpResponse.BodyHandlers.ofInputStream());
    assertEquals(200, response.statusCode());
    InputStream body = response.body();
    while (body.read() != '\n') {
      // the first line of the first event: the turn is under way
    }
    return body;
  }

  /** The place is given back as the stream ends, a moment after the client sees it end. */
  static void awaitServed(TalonApi api, String json, String key) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    HttpResponse<String> response = api.post("/v1/responses", json, TurnRequest.SESSION_HEADER, key);
    while (response.statusCode() == 429 && System.nanoTime() < deadline) {
      Thread.sleep(20); // a poll interval, not a timed assertion
      response = api.post("/v1/responses", json, TurnRequest.SESSION_HEADER, key);
    }
    assertEquals(200, response.statusCode(), response.body());
  }
}
