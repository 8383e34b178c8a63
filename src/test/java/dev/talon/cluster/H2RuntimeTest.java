package dev.talon.cluster;

import dev.talon.config.TalonConfig;
import dev.talon.conversation.ConversationFixtures;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import org.junit.jupiter.api.io.TempDir;

/** The embedded default: an H2 file under the data directory. */
class H2RuntimeTest extends RuntimeContract {
  @TempDir static Path dataDir;

  @Override
  TalonConfig config() {
    return ConversationFixtures.config("{ storage: { type: \"h2\" } }");
  }

  @Override
  Path dataDir() {
    return dataDir;
  }

  /** DB_CLOSE_DELAY=-1 keeps the database open in this JVM; close it so the next node reads the file. */
  @Override
  void afterStop() throws Exception {
    try (Connection connection = DriverManager.getConnection(JournalDatabase.defaultH2Url(dataDir), "sa", "")) {
      connection.createStatement().execute("SHUTDOWN");
    }
  }
}
