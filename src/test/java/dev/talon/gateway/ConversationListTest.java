package dev.talon.gateway;

import static dev.talon.gateway.ApiErrorsTest.assertBadRequest;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code GET /v1/conversations}: the conversations clients named, the most recently active first,
 * with their turn counts, in pages that stay exact while conversations go on; on both stores
 * (PostgreSQL as in {@link PostgresKeysTest}, skipped when none answers).
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ConversationListTest {

  @Test
  void onH2(@TempDir Path data) throws Exception {
    try (TalonApi api = TalonApi.start(data)) {
      listsNamedConversationsNewestFirst(api);
    }
  }

  @Test
  void onPostgres(@TempDir Path data) throws Exception {
    String database = "talon_list_" + UUID.randomUUID().toString().replace("-", "");
    try {
      PostgresKeysTest.sql("CREATE DATABASE " + database);
    } catch (SQLException e) {
      Assumptions.abort("no PostgreSQL at " + PostgresKeysTest.SERVER + ": " + e.getMessage());
    }
    String url = PostgresKeysTest.SERVER.substring(0, PostgresKeysTest.SERVER.lastIndexOf('/') + 1) + database;
    try (TalonApi api = TalonApi.start(data, TalonApi.TOKEN, "storage: { type: \"postgres\", url: \"%s\", user: \"%s\","
        .formatted(url, PostgresKeysTest.USER) + " password: \"%s\" },".formatted(PostgresKeysTest.PASSWORD),
        settings -> settings)) {
      listsNamedConversationsNewestFirst(api);
    } finally {
      PostgresKeysTest.sql("DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
    }
  }

  static void listsNamedConversationsNewestFirst(TalonApi api) throws Exception {
    JsonNode empty = list(api, "");
    assertEquals("list", empty.path("object").asText());
    assertEquals(0, empty.path("data").size());
    assertFalse(empty.path("has_more").asBoolean());
    assertTrue(empty.path("next_after").isNull());

    long start = Instant.now().getEpochSecond();
    turn(api, "list-a", null);
    turn(api, "list-a", null);
    turn(api, "list-b", null);
    turn(api, null, null); // keyless: Talon made its key up, and it is not listed
    turn(api, null, "bob");
    JsonNode all = list(api, "");
    assertEquals(List.of("user:bob", "list-b", "list-a"), keys(all));
    assertEquals(List.of(1, 1, 2), field(all, "turn_count").stream().map(Integer::parseInt).toList());
    for (String at : field(all, "last_activity_at")) {
      long seconds = Long.parseLong(at);
      assertTrue(seconds >= start && seconds <= Instant.now().getEpochSecond(), at);
    }
    assertEquals("conversation", all.path("data").path(0).path("object").asText());

    JsonNode first = list(api, "?limit=2");
    assertEquals(List.of("user:bob", "list-b"), keys(first));
    assertTrue(first.path("has_more").asBoolean());
    // active between two pages: it moves to the top, and the next page neither shifts nor repeats it
    turn(api, "list-a", null);
    JsonNode second = list(api, "?limit=2&after="
        + URLEncoder.encode(first.path("next_after").asText(), StandardCharsets.UTF_8));
    assertEquals(List.of(), keys(second));
    assertFalse(second.path("has_more").asBoolean());
    assertEquals(List.of("list-a", "user:bob", "list-b"), keys(list(api, "")));

    HttpResponse<String> deleted = api.http.send(api.request("/v1/conversations/list-b").DELETE().build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, deleted.statusCode(), deleted.body());
    assertEquals(List.of("list-a", "user:bob"), keys(list(api, "")));

    assertBadRequest(api.get("/v1/conversations?after=list-a"), "after");
    assertBadRequest(api.get("/v1/conversations?after=1700000000000:a%7Cb"), "after");
    assertBadRequest(api.get("/v1/conversations?limit=0"), "limit");
    assertBadRequest(api.get("/v1/conversations?limit=101"), "limit");
  }

  /** One turn of the conversation {@code key}, or of {@code user}'s, or of none. */
  static void turn(TalonApi api, String key, String user) throws Exception {
    String body = user == null ? "{\"input\":\"hi\"}" : "{\"input\":\"hi\",\"user\":\"" + user + "\"}";
    HttpResponse<String> response = key == null ? api.post("/v1/responses", body)
        : api.post("/v1/responses", body, TurnRequest.SESSION_HEADER, key);
    assertEquals(200, response.statusCode(), response.body());
  }

  static JsonNode list(TalonApi api, String query) throws Exception {
    HttpResponse<String> response = api.get("/v1/conversations" + query);
    assertEquals(200, response.statusCode(), response.body());
    return TalonApi.json(response);
  }

  static List<String> keys(JsonNode page) {
    return field(page, "session_key");
  }

  static List<String> field(JsonNode page, String name) {
    List<String> values = new ArrayList<>();
    page.path("data").forEach(entry -> values.add(entry.path(name).asText()));
    return values;
  }
}
