package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.cluster.JournalDatabase;
import dev.talon.testing.Script;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a conversation keeps, through the HTTP API, with the journal's rows counted in its H2
 * file: {@code previous_response_id} decided by the conversation, {@code store} on both APIs,
 * DELETE, and the expiry of keyless conversations (on a clock the test moves; the sweep runs
 * every second).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ConversationSemanticsTest {
  @TempDir static Path dataDir;
  final MovableClock clock = new MovableClock();
  TalonApi api;

  @BeforeAll
  void startNode() throws Exception {
    api = TalonApi.start(dataDir, TalonApi.TOKEN, "retention: { anonymousDays: 30, sweepIntervalSeconds: 1 },", clock);
  }

  @AfterAll
  void stopNode() throws Exception {
    api.close();
  }

  /** The system clock, moved ahead on demand. */
  static final class MovableClock extends Clock {
    volatile Duration ahead = Duration.ZERO;

    @Override
    public Instant instant() {
      return Instant.now().plus(ahead);
    }

    @Override
    public ZoneId getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(ZoneId zone) {
      return this;
    }
  }

  /** Journal rows of the conversation {@code key}, or of all conversations when null. */
  long rows(String table, String key) throws Exception {
    try (Connection connection = DriverManager.getConnection(JournalDatabase.defaultH2Url(dataDir), "sa", "");
        PreparedStatement query = connection.prepareStatement("SELECT COUNT(*) FROM \"" + table + "\""
            + (key == null ? "" : " WHERE \"persistence_id\" = ?"))) {
      if (key != null) {
        query.setString(1, "Conversation|" + key);
      }
      try (ResultSet rs = query.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }

  long allEvents() throws Exception {
    return rows("event_journal", null);
  }

  static JsonNode ok(HttpResponse<String> response) throws Exception {
    assertEquals(200, response.statusCode(), response.body());
    return TalonApi.json(response);
  }

  static String sessionOf(JsonNode response) {
    return response.path("talon").path("session_key").asText();
  }

  List<String> lastUpstreamInput() {
    JsonNode body = api.fake.requests().get(api.fake.requests().size() - 1).body();
    return StreamSupport.stream(body.path("input").spliterator(), false)
        .map(item -> item.path("content").isTextual() ? item.path("content").asText()
            : item.path("content").path(0).path("text").asText()).toList();
  }

  static void assertError(HttpResponse<String> response, int status, String code) throws Exception {
    assertEquals(status, response.statusCode(), response.body());
    assertEquals(code, TalonApi.json(response).path("error").path("code").asText(), response.body());
  }

  @Test
  void twoRequestsNamingTheSamePreviousResponseDoNotBothContinueIt() throws Exception {
    api.fake.enqueue(Script.reply("first"), Script.reply("second"));
    String previous = ok(api.post("/v1/responses", "{\"input\":\"one\"}")).path("id").asText();
    String body = "{\"input\":\"next\",\"previous_response_id\":\"" + previous + "\"}";

    List<HttpResponse<String>> answers = Stream.of(body, body)
        .map(json -> api.http.sendAsync(api.request("/v1/responses").header("Content-Type", "application/json")
            .POST(java.net.http.HttpRequest.BodyPublishers.ofString(json)).build(), HttpResponse.BodyHandlers.ofString()))
        .toList().stream().map(CompletableFuture::join).toList();
    assertEquals(List.of(200, 409), answers.stream().map(HttpResponse::statusCode).sorted().toList(),
        answers.stream().map(HttpResponse::body).toList().toString());
    String key = sessionOf(ok(answers.stream().filter(a -> a.statusCode() == 200).findFirst().orElseThrow()));
    assertEquals(2, api.transcript(key).turns().size());

    // Not the latest any more, and a response of no conversation at all.
    assertError(api.post("/v1/responses", body), 409, "previous_response_not_latest");
    String unknown = previous.substring(0, 5) + "0".repeat(32) + previous.substring(37);
    assertError(api.post("/v1/responses", "{\"input\":\"x\",\"previous_response_id\":\"" + unknown + "\"}"), 404,
        "response_not_found");
  }

  @Test
  void aChatRequestStoresNothingUnlessItAsksOrNamesAConversation() throws Exception {
    api.fake.enqueue(Script.reply("not kept"), Script.reply("streamed, not kept"), Script.reply("kept"),
        Script.reply("kept by key"));
    long before = allEvents();
    HttpResponse<String> plain = api.post("/v1/chat/completions",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assertEquals("not kept", ok(plain).path("choices").path(0).path("message").path("content").asText());
    assertFalse(plain.headers().firstValue(TurnRequest.SESSION_HEADER).isPresent());
    HttpResponse<String> streamed = api.post("/v1/chat/completions",
        "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    assertEquals(200, streamed.statusCode());
    assertTrue(streamed.body().contains("\"finish_reason\":\"stop\"") && streamed.body().endsWith("data: [DONE]\n\n"),
        streamed.body());
    assertEquals(before, allEvents());

    HttpResponse<String> stored = api.post("/v1/chat/completions",
        "{\"store\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    ok(stored);
    String key = stored.headers().firstValue(TurnRequest.SESSION_HEADER).orElseThrow();
    assertEquals(2, rows("event_journal", key));
    ok(api.post("/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        TurnRequest.SESSION_HEADER, "chat-kept-1"));
    assertEquals(2, rows("event_journal", "chat-kept-1"));
  }

  @Test
  void aResponseWithStoreFalseIsNeitherKeptNorFoundLater() throws Exception {
    api.fake.enqueue(Script.reply("gone"), Script.reply("kept"), Script.reply("Ada."));
    long before = allEvents();
    JsonNode unstored = ok(api.post("/v1/responses", "{\"input\":\"hi\",\"store\":false}"));
    assertEquals(before, allEvents());
    String id = unstored.path("id").asText();
    assertError(api.get("/v1/responses/" + id), 404, "response_not_found");
    assertError(api.post("/v1/responses", "{\"input\":\"more\",\"previous_response_id\":\"" + id + "\"}"), 404,
        "response_not_found");

    // store:false may continue a stored conversation: the model sees it, and it stays as it was.
    JsonNode stored = ok(api.post("/v1/responses", "{\"input\":\"I am Ada\"}"));
    String key = sessionOf(stored);
    JsonNode aside = ok(api.post("/v1/responses", "{\"input\":\"who am I?\",\"store\":false,"
        + "\"previous_response_id\":\"" + stored.path("id").asText() + "\"}"));
    assertEquals(List.of("I am Ada", "kept", "who am I?"), lastUpstreamInput());
    assertEquals(2, rows("event_journal", key));
    assertError(api.get("/v1/responses/" + aside.path("id").asText()), 404, "response_not_found");
    assertEquals(1, api.transcript(key).turns().size());
  }

  @Test
  void deleteErasesTheConversationsRows() throws Exception {
    api.fake.enqueue(Script.reply("remembered"));
    ok(api.post("/v1/responses", "{\"input\":\"remember this\"}", TurnRequest.SESSION_HEADER, "erase-1"));
    assertEquals(2, rows("event_journal", "erase-1"));
    HttpResponse<String> deleted = api.http.send(api.request("/v1/conversations/erase-1").DELETE().build(),
        HttpResponse.BodyHandlers.ofString());
    assertTrue(ok(deleted).path("deleted").asBoolean());
    assertEquals(0, rows("event_journal", "erase-1"));
    assertEquals(0, rows("snapshot", "erase-1"));
  }

  @Test
  void keylessConversationsAreErasedWhenTheirRetentionPassesAndNamedOnesStay() throws Exception {
    api.fake.enqueue(Script.reply("anonymous"), Script.reply("named"));
    JsonNode keyless = ok(api.post("/v1/responses", "{\"input\":\"hi\"}"));
    String anonymous = sessionOf(keyless);
    ok(api.post("/v1/responses", "{\"input\":\"hi\"}", TurnRequest.SESSION_HEADER, "named-1"));
    assertEquals(2, rows("event_journal", anonymous));

    clock.ahead = Duration.ofDays(31);
    try {
      TestProbe.create(api.runtime.system()).awaitAssert(Duration.ofSeconds(20), () -> {
        try {
          assertEquals(0, rows("event_journal", anonymous));
        } catch (Exception e) {
          throw new AssertionError(e);
        }
        return null;
      });
    } finally {
      clock.ahead = Duration.ZERO;
    }
    assertEquals(2, rows("event_journal", "named-1"));
    assertError(api.get("/v1/responses/" + keyless.path("id").asText()), 404, "response_not_found");
  }
}
