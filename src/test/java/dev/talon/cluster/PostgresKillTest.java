package dev.talon.cluster;

import java.util.UUID;
import org.junit.jupiter.api.AfterAll;

/** SIGKILL on PostgreSQL, in a fresh database (skipped when no server answers, see {@link PostgresRuntimeTest}). */
class PostgresKillTest extends KillContract {
  static final String DATABASE = "talon_kill_" + UUID.randomUUID().toString().replace("-", "");

  @Override
  String storage() throws Exception {
    PostgresRuntimeTest.createDatabase(DATABASE);
    return "{ type: \"postgres\", url: \"%s\", user: \"%s\", password: \"%s\" }".formatted(
        PostgresRuntimeTest.databaseUrl(DATABASE), PostgresRuntimeTest.USER, PostgresRuntimeTest.PASSWORD);
  }

  @AfterAll
  void dropDatabase() throws Exception {
    PostgresRuntimeTest.onServer("DROP DATABASE IF EXISTS " + DATABASE + " WITH (FORCE)");
  }
}
