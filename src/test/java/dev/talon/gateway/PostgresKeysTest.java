package dev.talon.gateway;

import static dev.talon.gateway.ApiErrorsTest.assertBadRequest;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * On PostgreSQL a NUL in a key used to fail in the database after the ask timeout, and a dozen
 * of them opened the snapshot store's circuit breaker for every conversation on the node. Now
 * bad keys are refused at the door: after a burst of them, a good conversation works at once.
 * Uses the server at {@code TALON_TEST_PG_URL} (default 127.0.0.1:5432, user postgres), skipped
 * when none answers.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class PostgresKeysTest {
  static final String SERVER = Optional.ofNullable(System.getenv("TALON_TEST_PG_URL"))
      .orElse("jdbc:postgresql://127.0.0.1:5432/postgres");
  static final String USER = Optional.ofNullable(System.getenv("TALON_TEST_PG_USER")).orElse("postgres");
  static final String PASSWORD = Optional.ofNullable(System.getenv("TALON_TEST_PG_PASSWORD")).orElse("");

  @Test
  void aBurstOfBadKeysLeavesTheNodeServingAtOnce(@TempDir Path data) throws Exception {
    String database = "talon_keys_" + UUID.randomUUID().toString().replace("-", "");
    try {
      sql("CREATE DATABASE " + database);
    } catch (SQLException e) {
      Assumptions.abort("no PostgreSQL at " + SERVER + ": " + e.getMessage());
    }
    String url = SERVER.substring(0, SERVER.lastIndexOf('/') + 1) + database;
    String storage = "storage: { type: \"postgres\", url: \"%s\", user: \"%s\", password: \"%s\" },"
        .formatted(url, USER, PASSWORD);
    try (TalonApi api = TalonApi.start(data, TalonApi.TOKEN, storage, settings -> settings)) {
      List<CompletableFuture<HttpResponse<String>>> bad = new ArrayList<>();
      for (int i = 0; i < 24; i++) {
        bad.add(api.http.sendAsync(i % 2 == 0 ? api.request("/v1/conversations/a%00b" + i).GET().build()
            : api.request("/v1/responses").header("Content-Type", "application/json").POST(
                HttpRequest.BodyPublishers.ofString("{\"input\":\"hi\",\"user\":\"a\\u0000b\"}")).build(),
            HttpResponse.BodyHandlers.ofString()));
      }
      for (var response : bad) {
        assertBadRequest(response.get(30, TimeUnit.SECONDS), response.get().uri().getPath().contains("conversations")
            ? null : "user");
      }
      long start = System.nanoTime();
      HttpResponse<String> good = api.post("/v1/responses", "{\"model\":\"openclaw\",\"input\":\"hi\"}",
          TurnRequest.SESSION_HEADER, "pg-good-after-burst");
      Duration took = Duration.ofNanos(System.nanoTime() - start);
      assertEquals(200, good.statusCode(), good.body());
      assertEquals(1, api.transcript("pg-good-after-burst").turns().size());
      assertEquals(1, api.fake.requests().size(), "only the good turn reached the model");
      assertTrue(took.toSeconds() < 5, "served at once, took " + took);
    } finally {
      sql("DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
    }
  }

  static void sql(String statement) throws SQLException {
    try (var connection = DriverManager.getConnection(SERVER, USER, PASSWORD)) {
      connection.createStatement().execute(statement);
    }
  }
}
