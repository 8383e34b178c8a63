package dev.talon.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Script;
import dev.talon.testing.TalonProcess;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a client saw survives SIGKILL: a real Talon process, killed the moment its client read
 * {@code response.completed}, keeps that turn after a restart on the same data; turns cut
 * mid-stream come back interrupted with their input, once each, and their conversations go on.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class KillContract {
  static final int TRIALS = 20;
  static final int MID_STREAM = 20;
  static final Duration START = Duration.ofSeconds(90);
  static final Duration CALL = Duration.ofSeconds(30);
  static final ObjectMapper JSON = new ObjectMapper();

  final HttpClient http = HttpClient.newHttpClient();
  FakeUpstream fake;
  @TempDir static Path dir;
  Path config;

  /** The {@code talon.storage} object (JSON5). */
  abstract String storage() throws Exception;

  @BeforeAll
  void startFake() throws Exception {
    fake = FakeUpstream.start();
    config = TalonProcess.writeConfig(dir, fake, "{ storage: " + storage() + " }");
  }

  @AfterAll
  void stopFake() {
    fake.close();
  }

  /** Each start first reads back the turn the previous process was killed after, then runs the next. */
  @Test
  void aTurnWhoseCompletionAClientSawSurvivesSigkill() throws Exception {
    String session = "sigkill-trials";
    List<String> outcomes = new ArrayList<>();
    String previous = null;
    for (int trial = 0; trial <= TRIALS; trial++) {
      try (TalonProcess talon = TalonProcess.start(config, dir.resolve("data"), START)) {
        if (previous != null) {
          outcomes.add(outcome(talon, session, previous, "answer " + (trial - 1)));
        }
        if (trial == TRIALS) {
          break;
        }
        fake.enqueue(Script.reply("answer " + trial));
        previous = completedResponseId(talon, session, "question " + trial);
        talon.kill();
      }
    }
    assertEquals("kept " + TRIALS + ", interrupted 0, lost 0", "kept " + count(outcomes, "kept") + ", interrupted "
        + count(outcomes, "interrupted") + ", lost " + count(outcomes, "lost"), outcomes.toString());
  }

  @Test
  void turnsCutMidStreamComeBackInterruptedOnceAndTheirConversationsGoOn() throws Exception {
    Path data = dir.resolve("mid-stream-data");
    List<String> sessions = IntStream.range(0, MID_STREAM).mapToObj(i -> "mid-stream-" + i).toList();
    try (TalonProcess talon = TalonProcess.start(config, data, START)) {
      sessions.forEach(s -> fake.enqueue(Script.reply("a long answer that is still streaming when the process dies")
          .tokenDelay(Duration.ofMillis(200))));
      List<CompletableFuture<Void>> streaming = sessions.stream()
          .map(session -> firstDelta(talon, session, "question of " + session)).toList();
      CompletableFuture.allOf(streaming.toArray(CompletableFuture[]::new)).get(CALL.toSeconds(), TimeUnit.SECONDS);
      talon.kill();
    }
    try (TalonProcess talon = TalonProcess.start(config, data, START)) {
      for (String session : sessions) {
        JsonNode turns = turns(talon, session);
        assertEquals(1, turns.size(), session + ": " + turns);
        assertEquals("interrupted", turns.get(0).get("status").asText(), session + ": " + turns);
        assertTrue(turns.get(0).get("input").toString().contains("question of " + session), turns.toString());
      }
      for (String session : sessions) {
        fake.enqueue(Script.reply("the next answer"));
        HttpResponse<String> next = http.send(post(talon, session, "again", false), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, next.statusCode(), next.body());
        JsonNode turns = turns(talon, session);
        assertEquals(List.of("interrupted", "completed"),
            List.of(turns.get(0).get("status").asText(), turns.get(1).get("status").asText()), turns.toString());
      }
    }
  }

  private String outcome(TalonProcess talon, String session, String responseId, String answer) throws Exception {
    JsonNode turns = turns(talon, session);
    for (JsonNode turn : turns) {
      if (turn.get("response_id").asText().equals(responseId)) {
        String status = turn.get("status").asText();
        if (status.equals("completed") && turn.get("output").toString().contains(answer)) {
          return "kept";
        }
        return status.equals("interrupted") ? "interrupted" : "broken: " + turn;
      }
    }
    return lost(turns);
  }

  /** A lost turn: what the journal holds instead. */
  private static String lost(JsonNode turns) {
    List<String> statuses = new ArrayList<>();
    turns.forEach(turn -> statuses.add(turn.get("status").asText()));
    return "lost (the conversation has " + statuses.size() + " turns: " + statuses + ")";
  }

  /** Streams a turn until {@code response.completed} and returns the response's id. */
  private String completedResponseId(TalonProcess talon, String session, String question) throws Exception {
    HttpResponse<Stream<String>> response = http.send(post(talon, session, question, true),
        HttpResponse.BodyHandlers.ofLines());
    assertEquals(200, response.statusCode());
    try (Stream<String> lines = response.body()) {
      Iterator<String> it = lines.iterator();
      while (it.hasNext()) {
        if (it.next().equals("event: response.completed")) {
          return JSON.readTree(it.next().substring("data: ".length())).get("response").get("id").asText();
        }
      }
    }
    throw new AssertionError("the stream ended without response.completed\n" + talon.logs());
  }

  /** Completes once the turn's first text delta arrived; the stream goes on reading until it breaks. */
  private CompletableFuture<Void> firstDelta(TalonProcess talon, String session, String question) {
    return untilEvent(http, talon, session, question, "response.output_text.delta");
  }

  /**
   * Streams {@code question} and completes once the stream shows an event of type {@code event};
   * the stream goes on reading until it breaks (the process is to be killed under it).
   */
  static CompletableFuture<Void> untilEvent(HttpClient http, TalonProcess talon, String session, String question,
      String event) {
    CompletableFuture<Void> seen = new CompletableFuture<>();
    http.sendAsync(post(talon, session, question, true), HttpResponse.BodyHandlers.ofLines())
        .thenAcceptAsync(response -> {
          try (Stream<String> lines = response.body()) {
            lines.filter(line -> line.equals("event: " + event)).forEach(line -> seen.complete(null));
          } catch (RuntimeException e) {
            // the process was killed under the stream
          }
          seen.completeExceptionally(new AssertionError(session + ": the stream ended without " + event + "\n"
              + talon.logs()));
        })
        .exceptionally(e -> {
          seen.completeExceptionally(e);
          return null;
        });
    return seen;
  }

  private JsonNode turns(TalonProcess talon, String session) throws IOException, InterruptedException {
    return turns(http, talon, session);
  }

  /** The conversation's turns, as {@code GET /v1/conversations/{key}} lists them. */
  static JsonNode turns(HttpClient http, TalonProcess talon, String session) throws IOException, InterruptedException {
    HttpResponse<String> response = http.send(talon.request("/v1/conversations/" + session).timeout(CALL).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, response.statusCode(), response.body());
    return JSON.readTree(response.body()).get("turns");
  }

  /** {@code question} to model {@code local/a} in conversation {@code session}, through {@code /v1/responses}. */
  static HttpRequest post(TalonProcess talon, String session, String question, boolean stream) {
    String body = JSON.createObjectNode().put("model", "local/a").put("input", question).put("stream", stream)
        .toString();
    return talon.request("/v1/responses").header("Content-Type", "application/json").header("x-talon-session-key", session)
        .POST(HttpRequest.BodyPublishers.ofString(body)).build();
  }

  private static long count(List<String> outcomes, String outcome) {
    return outcomes.stream().filter(o -> o.startsWith(outcome)).count();
  }
}
