package dev.talon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.cluster.JournalDatabase;
import dev.talon.testing.FakeUpstream;
import dev.talon.testing.TalonProcess;
import java.net.http.HttpClient;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.time.Duration;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node rehearses every kind of turn as it starts, stored ones too, then sends its warm-up turns,
 * and the rehearsal leaves no trace: no configured model is called and what it journaled is erased.
 */
class WarmupTest {
  static final Duration START = Duration.ofSeconds(90);
  static final int WARMUP_TURNS = 30;

  @TempDir Path dir;

  @Test
  void everyKindOfTurnIsRehearsedWithoutAModelCallOrALeftoverJournalRow() throws Exception {
    rehearseAndCheck("{}");
  }

  /** Its conversations then leave memory as each turn ends, and are read back to be erased. */
  @Test
  void aCrowdedNodesRehearsalLeavesNoJournalRowEither() throws Exception {
    rehearseAndCheck("{ conversations: { maxResident: 1 } }");
  }

  private void rehearseAndCheck(String talonSettings) throws Exception {
    Path data = dir.resolve("data");
    try (FakeUpstream fake = FakeUpstream.start()) {
      Path config = TalonProcess.writeConfig(dir, fake, talonSettings);
      try (TalonProcess talon = TalonProcess.startWarmingUp(config, data, START, WARMUP_TURNS)) {
        // The process says it listens once it is ready.
        HttpResponse<String> ready = HttpClient.newHttpClient().send(talon.request("/ready").build(),
            HttpResponse.BodyHandlers.ofString());
        assertEquals(200, ready.statusCode(), ready.body());
        long deadline = System.nanoTime() + START.toNanos();
        Pattern over = Pattern.compile("rehearsed (\\d+) turns, (\\d+) of them stored in conversations since erased");
        Matcher rehearsed = over.matcher(talon.logs());
        while (!rehearsed.find()) {
          assertTrue(System.nanoTime() < deadline, "not rehearsed in " + START + ":\n" + talon.logs());
          Thread.sleep(50); // a poll interval, not a timed assertion
          rehearsed = over.matcher(talon.logs());
        }
        assertTrue(talon.logs().contains("answered by rehearsal/chat"), talon.logs());
        assertTrue(talon.logs().contains("answered by rehearsal/responses"), talon.logs());
        assertTrue(Integer.parseInt(rehearsed.group(1)) > WARMUP_TURNS, "no warm-up turns: " + rehearsed.group());
        assertTrue(Integer.parseInt(rehearsed.group(2)) > 0, "no stored turn rehearsed: " + rehearsed.group());
        assertEquals(List.of(), fake.requests(), "the configured model was called");
        talon.terminate(START);
      }
    }
    try (Connection connection = DriverManager.getConnection(JournalDatabase.defaultH2Url(data), "sa", "");
        ResultSet count = connection.createStatement().executeQuery("SELECT COUNT(*) FROM \"event_journal\"")) {
      count.next();
      assertEquals(0, count.getLong(1), "journal rows after the rehearsal");
    }
  }

  /**
   * bin/talon's one-time recording run for the class-data archive starts beside the real node,
   * with the real config: it must not join the configured cluster or use the configured database
   * (here neither answers, so a run that tried would not get ready).
   */
  @Test
  void theArchiveRecordingRunStaysAloneOnTheEmbeddedStore() throws Exception {
    try (FakeUpstream fake = FakeUpstream.start()) {
      Path config = TalonProcess.writeConfig(dir, fake, """
          { storage: { type: "postgres", url: "jdbc:postgresql://127.0.0.1:1/nowhere", user: "nobody" },
            cluster: { host: "127.0.0.1", port: 1, seedNodes: ["127.0.0.1:1", "127.0.0.1:2"] } }""");
      try (TalonProcess recording = TalonProcess.start(config, dir.resolve("scratch"), START,
          "-D" + ServeCommand.EXIT_WHEN_READY + "=true")) {
        assertEquals(0, recording.awaitExit(START), recording.logs());
        assertTrue(recording.logs().contains("h2 journal"), recording.logs());
      }
    }
  }
}
