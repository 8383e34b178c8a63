package dev.talon.cluster;

import dev.talon.config.TalonSettings;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Creates the journal's tables when they are missing, then checks that they are there. Unlike
 * the plugin's own {@code SchemaUtils} (which logs failures at DEBUG and carries on), every
 * problem here stops the start with a message that names the database and the cause.
 */
public final class JournalSchema {
  static final List<String> TABLES = List.of("event_journal", "event_tag", "snapshot", "durable_state");
  /** PostgreSQL's SQLSTATE for a table that does not exist. */
  private static final String UNDEFINED_TABLE = "42P01";

  private JournalSchema() {}

  /**
   * Applies the DDL (idempotent, safe at every start) and verifies every table.
   *
   * @throws StorageException when the database cannot be reached or the tables cannot be made
   */
  public static void ensure(JournalDatabase database) {
    List<String> statements = statements(database.schemaResource());
    try (Connection connection = connect(database); Statement statement = connection.createStatement()) {
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
          probe(statement, table);
        } catch (SQLException e) {
          throw unusable(database, table, e);
        }
      }
    } catch (SQLException e) {
      throw new StorageException("cannot use the journal database " + database.describe() + ": " + e.getMessage(), e);
    }
  }

  /**
   * What {@link #ensure} would find, changing nothing (for {@code talon doctor}).
   *
   * @param missingTables the journal's tables that do not exist yet
   * @param schema where {@link #ensure} would create them: the first schema of the user's search
   *     path, or null when none of its schemas exists
   * @param mayCreate whether the user may create tables there
   */
  public record Inspection(List<String> missingTables, String schema, boolean mayCreate) {
    public Inspection {
      missingTables = List.copyOf(missingTables);
    }
  }

  /**
   * Looks at the journal's tables without creating any. Only for PostgreSQL: connecting to an H2
   * file creates the file.
   *
   * @throws StorageException when the database cannot be reached, or a table exists but cannot be read
   */
  public static Inspection inspect(JournalDatabase database) {
    if (database.type() != TalonSettings.Storage.Type.POSTGRES) {
      throw new IllegalArgumentException("inspect is for PostgreSQL; " + database);
    }
    try (Connection connection = connect(database); Statement statement = connection.createStatement()) {
      List<String> missing = new ArrayList<>();
      for (String table : TABLES) {
        try {
          probe(statement, table);
        } catch (SQLException e) {
          if (!UNDEFINED_TABLE.equals(e.getSQLState())) {
            throw unusable(database, table, e);
          }
          missing.add(table);
        }
      }
      try (ResultSet where = statement.executeQuery(
          "SELECT current_schema(), has_schema_privilege(current_schema(), 'CREATE')")) {
        where.next();
        return new Inspection(missing, where.getString(1), where.getBoolean(2));
      }
    } catch (SQLException e) {
      throw new StorageException("cannot use the journal database " + database.describe() + ": " + e.getMessage(), e);
    }
  }

  private static Connection connect(JournalDatabase database) {
    try {
      return database.connect();
    } catch (SQLException e) {
      throw new StorageException("cannot connect to the journal database " + database.describe() + ": "
          + e.getMessage(), e);
    }
  }

  private static void probe(Statement statement, String table) throws SQLException {
    // Quoted: H2 keeps the lower-case names of the DDL; PostgreSQL folds to lower case anyway.
    statement.executeQuery("SELECT 1 FROM \"" + table + "\" WHERE 1 = 0").close();
  }

  private static StorageException unusable(JournalDatabase database, String table, SQLException e) {
    return new StorageException("the journal table \"" + table + "\" is not usable in " + database.describe() + ": "
        + e.getMessage(), e);
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
