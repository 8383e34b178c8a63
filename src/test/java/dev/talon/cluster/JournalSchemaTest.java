package dev.talon.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.config.TalonSettings;
import dev.talon.conversation.ConversationFixtures;
import java.nio.file.Path;
import java.time.Duration;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Talon's own DDL: idempotent, verified, and loud when the database cannot be used. */
class JournalSchemaTest {
  @TempDir Path dataDir;

  JournalDatabase h2() {
    return JournalDatabase.of(new TalonSettings.Storage(TalonSettings.Storage.Type.H2, null, null, null), dataDir);
  }

  @Test
  void createsTheTablesOnceAndAgainWithoutComplaint() throws Exception {
    JournalDatabase database = h2();
    JournalSchema.ensure(database);
    JournalSchema.ensure(database);

    List<String> tables = new ArrayList<>();
    try (Connection connection = database.connect();
        ResultSet rs = connection.getMetaData().getTables(null, "PUBLIC", "%", new String[] {"TABLE"})) {
      while (rs.next()) {
        tables.add(rs.getString("TABLE_NAME"));
      }
      connection.createStatement().execute("SHUTDOWN");
    }
    assertEquals(JournalSchema.TABLES.stream().sorted().toList(), tables.stream().sorted().toList());
  }

  @Test
  void theDefaultJournalIsAnH2FileInTheDataDirectory() {
    JournalDatabase database = h2();
    assertEquals("jdbc:h2:file:" + dataDir.toAbsolutePath().resolve("talon") + ";DB_CLOSE_DELAY=-1;WRITE_DELAY=0;REUSE_SPACE=FALSE;DB_CLOSE_ON_EXIT=FALSE",
        database.url());
    assertEquals("slick.jdbc.H2Profile$",
        database.pekkoConfig().getString("pekko-persistence-jdbc.shared-databases.slick.profile"));
  }

  /**
   * H2 writes one commit at a time: events that arrive while a batch is written go together in the
   * next one, instead of each batch waiting for the lock with a transaction of its own.
   */
  @Test
  void anH2JournalIsSentOneBatchOfEventsAtATimeAndPostgresSeveral() {
    Duration drain = Duration.ofSeconds(1);
    assertEquals(1, TalonRuntime.pekkoConfig(TalonSettings.Cluster.SINGLE_NODE, h2(), drain)
        .getInt(JournalDatabase.JOURNAL_BATCHES_AT_ONCE));
    JournalDatabase postgres = JournalDatabase.of(new TalonSettings.Storage(TalonSettings.Storage.Type.POSTGRES,
        "jdbc:postgresql://127.0.0.1:5432/test", "postgres", null), dataDir);
    assertEquals(8, TalonRuntime.pekkoConfig(TalonSettings.Cluster.SINGLE_NODE, postgres, drain)
        .getInt(JournalDatabase.JOURNAL_BATCHES_AT_ONCE));
  }

  /** A commit reaches the file at once and is appended, so a killed process keeps what its clients saw. */
  @Test
  void everyH2DatabaseWritesEachCommitAtOnce() throws Exception {
    String own = "jdbc:h2:file:" + dataDir.toAbsolutePath().resolve("own") + ";DB_CLOSE_DELAY=-1";
    JournalDatabase userSupplied = JournalDatabase.of(
        new TalonSettings.Storage(TalonSettings.Storage.Type.H2, own, null, null), dataDir);
    assertEquals(own + ";WRITE_DELAY=0;REUSE_SPACE=FALSE;DB_CLOSE_ON_EXIT=FALSE", userSupplied.url());
    assertEquals(own + ";write_delay=0;REUSE_SPACE=FALSE;DB_CLOSE_ON_EXIT=FALSE", JournalDatabase.of(
        new TalonSettings.Storage(TalonSettings.Storage.Type.H2, own + ";write_delay=0", null, null), dataDir).url());
    for (JournalDatabase database : List.of(h2(), userSupplied)) {
      try (Connection connection = database.connect();
          ResultSet rs = connection.createStatement().executeQuery(
              "SELECT SETTING_VALUE FROM INFORMATION_SCHEMA.SETTINGS WHERE SETTING_NAME = 'WRITE_DELAY'")) {
        assertTrue(rs.next());
        assertEquals("0", rs.getString(1), database.url());
        // REUSE_SPACE is not listed among the settings; the URL above is what H2 was opened with
        connection.createStatement().execute("SHUTDOWN");
      }
    }
  }

  /** Appending every commit grows the file; compacting (at every stop) gives the space back. */
  @Test
  void compactingGivesBackWhatAppendedCommitsLeftBehind() throws Exception {
    JournalDatabase database = h2();
    JournalSchema.ensure(database);
    try (Connection connection = database.connect()) {
      for (int i = 0; i < 200; i++) {
        connection.createStatement().execute("INSERT INTO \"snapshot\" (\"persistence_id\", \"sequence_number\","
            + " \"created\", \"snapshot_ser_id\", \"snapshot_ser_manifest\", \"snapshot_payload\") VALUES ('p', " + i
            + ", 0, 1, '', X'00')");
      }
    }
    Path file = dataDir.resolve("talon.mv.db");
    long grown = java.nio.file.Files.size(file);
    database.compact();
    long compacted = java.nio.file.Files.size(file);
    assertTrue(compacted * 4 < grown, "grown " + grown + " bytes, compacted " + compacted);
  }

  @Test
  void aBadJdbcUrlFailsWithTheUrlAndTheCause() {
    JournalDatabase database = new JournalDatabase(TalonSettings.Storage.Type.H2, "jdbc:nosuchdb://x/y", "sa", "");
    StorageException e = assertThrows(StorageException.class, () -> JournalSchema.ensure(database));
    assertEquals("cannot connect to the journal database jdbc:nosuchdb://x/y (user \"sa\"): "
        + "No suitable driver found for jdbc:nosuchdb://x/y", e.getMessage());
  }

  @Test
  void anUnreachableServerFailsTheStartAndLeavesNothingRunning() {
    String url = "jdbc:postgresql://127.0.0.1:1/talon";
    StorageException e = assertThrows(StorageException.class, () -> TalonRuntime.start(ConversationFixtures.config(
        "{ storage: { type: \"postgres\", url: \"" + url + "\", user: \"talon\", password: \"secret\" } }"),
        dataDir, (system, metrics) -> {
          throw new AssertionError("no actor system may start");
        }));
    assertTrue(e.getMessage().startsWith("cannot connect to the journal database " + url + " (user \"talon\"): "),
        e.getMessage());
    assertTrue(e.getMessage().contains("refused"), e.getMessage());
    assertTrue(!e.getMessage().contains("secret"), e.getMessage());
  }
}
