package dev.talon.cluster;

import dev.talon.conversation.ConversationEntity;
import dev.talon.conversation.JournalEraser;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import org.apache.pekko.Done;

/**
 * SQL on the journal's own tables, for what the plugin does not offer: erasing a conversation
 * without a trace, finding keyless conversations nobody wrote to for a while, and listing the
 * named ones by their last write. Names are quoted: H2 keeps the lower-case names of the DDL,
 * PostgreSQL folds to lower case anyway. Every call runs on {@code blocking}, never on a
 * dispatcher's threads.
 */
final class JournalRows implements JournalEraser {
  /** A conversation's persistence id and the time of its last journal write, in epoch milliseconds. */
  record LastWrite(String persistenceId, long millis) {}

  private final JournalDatabase database;
  private final Executor blocking;

  JournalRows(JournalDatabase database, Executor blocking) {
    this.database = database;
    this.blocking = blocking;
  }

  /** The event rows (their tags cascade) and the snapshots, in one transaction. */
  @Override
  public CompletionStage<Done> erase(String persistenceId) {
    return CompletableFuture.supplyAsync(() -> {
      try (Connection connection = database.connect()) {
        connection.setAutoCommit(false);
        for (String table : List.of("event_journal", "snapshot")) {
          try (PreparedStatement delete = connection.prepareStatement(
              "DELETE FROM \"" + table + "\" WHERE \"persistence_id\" = ?")) {
            delete.setString(1, persistenceId);
            delete.executeUpdate();
          }
        }
        connection.commit();
        return Done.getInstance();
      } catch (SQLException e) {
        throw new StorageException("cannot erase " + persistenceId + " in " + database.describe() + ": "
            + e.getMessage(), e);
      }
    }, blocking);
  }

  /** The persistence ids of keyless conversations whose last journal write is older than {@code cutoff}. */
  CompletionStage<List<String>> keylessUnusedSince(Instant cutoff) {
    return CompletableFuture.supplyAsync(() -> {
      try (Connection connection = database.connect();
          PreparedStatement query = connection.prepareStatement("""
              SELECT j."persistence_id" FROM "event_journal" j
              WHERE j."persistence_id" IN (SELECT k."persistence_id" FROM "event_journal" k
                  JOIN "event_tag" t ON t."event_id" = k."ordering" WHERE t."tag" = ?)
              GROUP BY j."persistence_id" HAVING MAX(j."write_timestamp") < ?""")) {
        query.setString(1, ConversationEntity.KEYLESS_TAG);
        query.setLong(2, cutoff.toEpochMilli());
        List<String> ids = new ArrayList<>();
        try (ResultSet rows = query.executeQuery()) {
          while (rows.next()) {
            ids.add(rows.getString(1));
          }
        }
        return ids;
      } catch (SQLException e) {
        throw new StorageException("cannot look for expired conversations in " + database.describe() + ": "
            + e.getMessage(), e);
      }
    }, blocking);
  }

  /**
   * Conversations the client named (not keyless ones), most recently written first (ties by
   * persistence id), starting after {@code after}: at most {@code limit}. A position rather than an
   * offset, so that a conversation written between two pages neither shifts the next page nor
   * shows twice (it moves to the top, before the pages already read).
   *
   * @param after the last conversation of the previous page, or null for the first page
   */
  CompletionStage<List<LastWrite>> namedByLastWrite(LastWrite after, int limit) {
    return CompletableFuture.supplyAsync(() -> {
      try (Connection connection = database.connect();
          PreparedStatement query = connection.prepareStatement("""
              SELECT j."persistence_id", MAX(j."write_timestamp") FROM "event_journal" j
              WHERE j."persistence_id" LIKE ? AND j."persistence_id" NOT IN (SELECT k."persistence_id"
                  FROM "event_journal" k JOIN "event_tag" t ON t."event_id" = k."ordering" WHERE t."tag" = ?)
              GROUP BY j."persistence_id"
              HAVING MAX(j."write_timestamp") < ? OR MAX(j."write_timestamp") = ? AND j."persistence_id" > ?
              ORDER BY MAX(j."write_timestamp") DESC, j."persistence_id"
              LIMIT ?""")) {
        LastWrite from = after != null ? after : new LastWrite("", Long.MAX_VALUE);
        query.setString(1, JournalTranscripts.PERSISTENCE_ID_PREFIX + "%");
        query.setString(2, ConversationEntity.KEYLESS_TAG);
        query.setLong(3, from.millis());
        query.setLong(4, from.millis());
        query.setString(5, from.persistenceId());
        query.setInt(6, limit);
        List<LastWrite> written = new ArrayList<>();
        try (ResultSet rows = query.executeQuery()) {
          while (rows.next()) {
            written.add(new LastWrite(rows.getString(1), rows.getLong(2)));
          }
        }
        return written;
      } catch (SQLException e) {
        throw new StorageException("cannot list the conversations in " + database.describe() + ": "
            + e.getMessage(), e);
      }
    }, blocking);
  }
}
