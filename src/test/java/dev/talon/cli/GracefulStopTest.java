package dev.talon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Script;
import dev.talon.testing.TalonProcess;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * SIGTERM during a slow streamed turn: the process stops taking turns and reports itself not
 * ready, lets the turn stream to its end, journals it, and only then exits.
 */
class GracefulStopTest {
  static final ObjectMapper JSON = new ObjectMapper();
  static final Duration START = Duration.ofSeconds(90);
  static final Duration CALL = Duration.ofSeconds(30);
  /** Some 15 MB of events: more than the loopback socket's buffers hold while the client does not read. */
  static final int LONG_ANSWER_WORDS = 100_000;
  static final String FIRST_TOKEN = "event: response.output_text.delta";
  static final String ANSWER = "every word of this answer reaches the client although the process was asked to stop";

  @TempDir Path dir;
  final HttpClient http = HttpClient.newHttpClient();

  @Test
  void sigtermLetsTheRunningTurnFinishThenStops() throws Exception {
    answeredWhileStopping(Script.reply(ANSWER).tokenDelay(Duration.ofMillis(150)), ANSWER, FIRST_TOKEN, () -> {});
  }

  /** The model has not sent a token yet when the node is asked to stop: the turn still runs to its end. */
  @Test
  void sigtermBeforeTheFirstTokenLetsTheTurnFinish() throws Exception {
    CompletableFuture<Void> firstToken = new CompletableFuture<>();
    answeredWhileStopping(Script.reply(ANSWER).firstTokenAfter(firstToken), ANSWER, "event: response.created",
        () -> firstToken.complete(null));
  }

  /**
   * The turn's last events are still on their way to a client that reads slowly when the turn
   * ends and the node's drain with it: they reach the client all the same.
   */
  @Test
  void theLastBytesOfALongAnswerReachTheClientBeforeTheNodeStops() throws Exception {
    String answer = IntStream.range(0, LONG_ANSWER_WORDS).mapToObj(i -> "word" + i)
        .collect(Collectors.joining(" "));
    answeredWhileStopping(Script.reply(answer), answer, FIRST_TOKEN, () -> {});
  }

  /**
   * Reads {@code script}'s turn up to the line {@code running}, stops the node (SIGTERM), runs
   * {@code onceStopping} once the node refuses new turns, then reads the rest; the whole answer
   * arrives, is journaled, and the node exits.
   */
  private void answeredWhileStopping(Script script, String answer, String running, Runnable onceStopping)
      throws Exception {
    try (FakeUpstream fake = FakeUpstream.start()) {
      Path config = TalonProcess.writeConfig(dir, fake, "{}");
      Path data = dir.resolve("data");
      String responseId;
      try (TalonProcess talon = TalonProcess.start(config, data, START)) {
        fake.enqueue(script);
        HttpResponse<Stream<String>> response = http.send(turn(talon, "draining", true),
            HttpResponse.BodyHandlers.ofLines());
        assertEquals(200, response.statusCode());
        Iterator<String> lines = response.body().iterator();
        while (!lines.next().equals(running)) {
          // the turn is running
        }
        CompletableFuture<Integer> exit = CompletableFuture.supplyAsync(() -> talon.terminate(CALL));

        awaitStatus(talon, "/ready", 503);
        HttpResponse<String> refused = http.send(turn(talon, "another", false), HttpResponse.BodyHandlers.ofString());
        assertEquals(503, refused.statusCode(), refused.body());
        onceStopping.run();

        StringBuilder text = new StringBuilder();
        String completed = null;
        while (completed == null && lines.hasNext()) {
          String line = lines.next();
          if (line.startsWith("data: ")) {
            JsonNode event = JSON.readTree(line.substring("data: ".length()));
            if (event.path("type").asText().equals("response.output_text.delta")) {
              text.append(event.get("delta").asText());
            } else if (event.path("type").asText().equals("response.completed")) {
              completed = event.get("response").get("id").asText();
            }
          }
        }
        assertTrue(completed != null, "the stream ended without response.completed\n" + talon.logs());
        assertEquals(answer, text.toString());
        responseId = completed;
        exit.get(CALL.toSeconds(), TimeUnit.SECONDS);
        assertTrue(talon.logs().contains("talon: listening"), talon.logs());
      }
      try (TalonProcess talon = TalonProcess.start(config, data, START)) {
        JsonNode turns = JSON.readTree(http.send(talon.request("/v1/conversations/draining").timeout(CALL).build(),
            HttpResponse.BodyHandlers.ofString()).body()).get("turns");
        assertEquals(1, turns.size(), turns.toString());
        assertEquals(responseId, turns.get(0).get("response_id").asText());
        assertEquals("completed", turns.get(0).get("status").asText(), turns.toString());
        assertTrue(turns.get(0).get("output").toString().contains(answer), "the journaled turn lacks the answer");
      }
    }
  }

  /** Polls until {@code path} answers {@code status}, within {@link #CALL}. */
  private void awaitStatus(TalonProcess talon, String path, int status) throws Exception {
    long deadline = System.nanoTime() + CALL.toNanos();
    int last;
    do {
      last = http.send(talon.request(path).timeout(CALL).build(), HttpResponse.BodyHandlers.discarding()).statusCode();
    } while (last != status && System.nanoTime() < deadline);
    assertEquals(status, last, path);
  }

  private static HttpRequest turn(TalonProcess talon, String session, boolean stream) {
    String body = JSON.createObjectNode().put("model", "local/a").put("input", "talk slowly").put("stream", stream)
        .toString();
    return talon.request("/v1/responses").timeout(CALL).header("Content-Type", "application/json")
        .header("x-talon-session-key", session).POST(HttpRequest.BodyPublishers.ofString(body)).build();
  }
}
