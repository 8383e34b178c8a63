package dev.talon.cluster;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Arrays;
import java.util.List;

/**
 * Creates the journal's tables when they are missing, then checks that they are there. Unlike
 * the plugin's own {@code SchemaUtils} (which logs failures at DEBUG and carries on), every
 * problem here stops the start with a message that names the database and the cause.
 */
public final class JournalSchema {
  static final List<String> TABLES = List.of("event_journal", "event_tag", "snapshot", "durable_state");

  private JournalSchema() {}

  /**
   * Applies the DDL (idempotent, safe at every start) and verifies every table.
   *
   * @throws StorageException when the database cannot be reached or the tables cannot be made
   */
  public static void ensure(JournalDatabase database) {
    List<String> statements = statements(database.schemaResource());
    Connection connection;
    try {
      connection = database.connect();
    } catch (SQLException e) {
      throw new StorageException("cannot connect to the journal database " + database.describe() + ": "
          + e.getMessage(), e);
    }
    try (connection; Statement statement = connection.createStatement()) {
      for (String ddl : statements) {
        try {
          statement.execute(ddl);
        } catch (SQLException e) {
          throw new StorageException("cannot create the journal tables in " + database.describe() + ": "
              + e.getMessage() + "\n  while running: " + ddl.lines().findFirst().orElse(ddl), e);
        }
      }
      for (String table : TABLES) {
        try {
          // Quoted: H2 keeps the lower-case names of the DDL; PostgreSQL folds to lower case anyway.
          statement.executeQuery("SELECT 1 FROM \"" + table + "\" WHERE 1 = 0").close();
        } catch (SQLException e) {
          throw new StorageException("the journal table \"" + table + "\" is not usable in " + database.describe()
              + ": " + e.getMessage(), e);
        }
      }
    } catch (SQLException e) {
      throw new StorageException("cannot use the journal database " + database.describe() + ": " + e.getMessage(), e);
    }
  }

  /** The script's statements: comment lines dropped, split at the semicolons. */
  static List<String> statements(String resource) {
    try (InputStream in = JournalSchema.class.getClassLoader().getResourceAsStream(resource)) {
      if (in == null) {
        throw new IllegalStateException("missing resource " + resource);
      }
      String script = new String(in.readAllBytes(), StandardCharsets.UTF_8).lines()
          .filter(line -> !line.strip().startsWith("--"))
          .reduce("", (text, line) -> text + line + "\n");
      return Arrays.stream(script.split(";")).map(String::strip).filter(ddl -> !ddl.isEmpty()).toList();
    } catch (IOException e) {
      throw new IllegalStateException("cannot read " + resource, e);
    }
  }
}
