package dev.talon.cluster;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.config.TalonConfig;
import dev.talon.config.TalonSettings;
import dev.talon.conversation.ConversationFixtures;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.UUID;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The clustered setup's journal: PostgreSQL, in a fresh database per run. The server is
 * {@code TALON_TEST_PG_URL} (default {@value #DEFAULT_URL}) as {@code TALON_TEST_PG_USER}
 * (default postgres) with {@code TALON_TEST_PG_PASSWORD}; the tests are skipped only when no
 * server answers there.
 */
// public: ClusterBench (bench/) runs on the same server, with the same settings
public class PostgresRuntimeTest extends RuntimeContract {
  static final String DEFAULT_URL = "jdbc:postgresql://127.0.0.1:5432/postgres";
  public static final String SERVER = env("TALON_TEST_PG_URL", DEFAULT_URL);
  public static final String USER = env("TALON_TEST_PG_USER", "postgres");
  public static final String PASSWORD = env("TALON_TEST_PG_PASSWORD", "");
  static final String DATABASE = "talon_test_" + UUID.randomUUID().toString().replace("-", "");
  boolean created;

  static String env(String name, String fallback) {
    String value = System.getenv(name);
    return value == null || value.isBlank() ? fallback : value;
  }

  /** The server's URL with the test database in place of the server's own. */
  public static String databaseUrl(String database) {
    int slash = SERVER.indexOf('/', "jdbc:postgresql://".length());
    int query = SERVER.indexOf('?', slash);
    return SERVER.substring(0, slash + 1) + database + (query < 0 ? "" : SERVER.substring(query));
  }

  public static void onServer(String sql) throws SQLException {
    try (Connection connection = DriverManager.getConnection(SERVER, USER, PASSWORD)) {
      connection.createStatement().execute(sql);
    }
  }

  /** Creates {@code database} on the server, or skips the calling test when no server answers. */
  static void createDatabase(String database) throws SQLException {
    try {
      onServer("CREATE DATABASE " + database);
    } catch (SQLException e) {
      // SQLState class 08: no connection at all. Anything else (a refused login, no CREATEDB) fails.
      if (e.getSQLState() == null || !e.getSQLState().startsWith("08")) {
        throw e;
      }
      Assumptions.abort("no PostgreSQL answers at " + SERVER + " (" + e.getMessage()
          + "); set TALON_TEST_PG_URL, TALON_TEST_PG_USER and TALON_TEST_PG_PASSWORD to run these tests");
    }
  }

  @BeforeAll
  @Override
  void startRuntime() throws Exception {
    createDatabase(DATABASE);
    created = true;
    super.startRuntime();
  }

  @AfterAll
  @Override
  void stopRuntime() throws Exception {
    super.stopRuntime();
    if (created) {
      onServer("DROP DATABASE IF EXISTS " + DATABASE + " WITH (FORCE)");
    }
  }

  @Override
  TalonConfig config() {
    return ConversationFixtures.config("{ storage: { type: \"postgres\", url: \"%s\", user: \"%s\", password: \"%s\" } }"
        .formatted(databaseUrl(DATABASE), USER, PASSWORD));
  }

  @Override
  Path dataDir() {
    return Path.of("target", "unused-data-dir");
  }

  @Test
  void aUserWhoMayNotCreateTablesIsToldSo() throws Exception {
    String database = DATABASE + "_locked";
    String role = DATABASE + "_user";
    onServer("CREATE DATABASE " + database);
    try {
      onServer("CREATE ROLE " + role + " LOGIN");
      try (Connection connection = DriverManager.getConnection(databaseUrl(database), USER, PASSWORD)) {
        connection.createStatement().execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC");
      }
      JournalDatabase locked = new JournalDatabase(TalonSettings.Storage.Type.POSTGRES, databaseUrl(database),
          role, "");
      StorageException e = assertThrows(StorageException.class, () -> JournalSchema.ensure(locked));
      Assumptions.assumeFalse(e.getMessage().startsWith("cannot connect"),
          () -> "the server does not let " + role + " log in without a password: " + e.getMessage());
      assertTrue(e.getMessage().startsWith("cannot create the journal tables in " + databaseUrl(database)),
          e.getMessage());
      assertTrue(e.getMessage().contains("permission denied"), e.getMessage());
    } finally {
      onServer("DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
      onServer("DROP ROLE IF EXISTS " + role);
    }
  }
}
