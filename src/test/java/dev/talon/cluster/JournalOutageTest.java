package dev.talon.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Script;
import dev.talon.testing.TalonProcess;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real fault: the journal table of a running Talon (on PostgreSQL) refuses every new row. Each
 * turn is answered 503 with nothing streamed and nothing kept; once the table takes rows again,
 * so do the conversations.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class JournalOutageTest {
  static final String DATABASE = "talon_outage_" + UUID.randomUUID().toString().replace("-", "");
  static final ObjectMapper JSON = new ObjectMapper();
  static final Duration CALL = Duration.ofSeconds(30);

  @TempDir static Path dir;
  final HttpClient http = HttpClient.newHttpClient();
  FakeUpstream fake;
  TalonProcess talon;

  @BeforeAll
  void start() throws Exception {
    PostgresRuntimeTest.createDatabase(DATABASE);
    fake = FakeUpstream.start();
    Path config = TalonProcess.writeConfig(dir, fake, """
        { storage: { type: "postgres", url: "%s", user: "%s", password: "%s" },
          conversations: { journalBackoffInitialMs: 50, journalBackoffMaxMs: 200 } }
        """.formatted(PostgresRuntimeTest.databaseUrl(DATABASE), PostgresRuntimeTest.USER,
        PostgresRuntimeTest.PASSWORD));
    talon = TalonProcess.start(config, dir.resolve("data"), Duration.ofSeconds(90));
  }

  @AfterAll
  void stop() throws Exception {
    if (talon != null) {
      talon.close();
      fake.close();
      PostgresRuntimeTest.onServer("DROP DATABASE IF EXISTS " + DATABASE + " WITH (FORCE)");
    }
  }

  @Test
  void whileTheJournalCannotWriteEveryTurnIsA503AndTheConversationRecoversAfterwards() throws Exception {
    String session = "outage";
    fake.setDefault(Script.reply("an answer nobody may see"));
    onDatabase("ALTER TABLE event_journal ADD CONSTRAINT talon_test_outage CHECK (false) NOT VALID");
    List<String> answers = new ArrayList<>();
    for (String path : List.of("/v1/responses", "/v1/chat/completions")) {
      for (boolean stream : List.of(true, false)) {
        HttpResponse<String> response = http.send(turn(path, session, stream), HttpResponse.BodyHandlers.ofString());
        JsonNode error = JSON.readTree(response.body()).path("error");
        answers.add(path + (stream ? " streamed: " : ": ") + response.statusCode() + " " + error.path("type").asText()
            + "/" + error.path("code").asText());
      }
    }
    assertEquals(List.of("/v1/responses streamed: 503 server_error/storage", "/v1/responses: 503 server_error/storage",
        "/v1/chat/completions streamed: 503 server_error/storage", "/v1/chat/completions: 503 server_error/storage"),
        answers, talon.logs());

    onDatabase("ALTER TABLE event_journal DROP CONSTRAINT talon_test_outage");
    fake.setDefault(Script.reply("back again"));
    HttpResponse<String> after = http.send(turn("/v1/responses", session, false), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, after.statusCode(), after.body());
    JsonNode turns = JSON.readTree(http.send(talon.request("/v1/conversations/" + session).timeout(CALL).build(),
        HttpResponse.BodyHandlers.ofString()).body()).get("turns");
    assertEquals(1, turns.size(), turns.toString());
    assertEquals("completed", turns.get(0).get("status").asText());
  }

  private HttpRequest turn(String path, String session, boolean stream) {
    String body = path.equals("/v1/responses")
        ? JSON.createObjectNode().put("model", "local/a").put("input", "hello").put("stream", stream).toString()
        : "{\"model\":\"local/a\",\"stream\":" + stream + ",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}";
    return talon.request(path).timeout(CALL).header("Content-Type", "application/json")
        .header("x-talon-session-key", session).POST(HttpRequest.BodyPublishers.ofString(body)).build();
  }

  private static void onDatabase(String sql) throws Exception {
    try (Connection connection = DriverManager.getConnection(PostgresRuntimeTest.databaseUrl(DATABASE),
        PostgresRuntimeTest.USER, PostgresRuntimeTest.PASSWORD)) {
      connection.createStatement().execute(sql);
    }
  }
}
