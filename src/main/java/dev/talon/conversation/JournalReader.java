package dev.talon.conversation;

import java.util.Optional;
import java.util.concurrent.CompletionStage;

/**
 * Reads a conversation's turns back from the journal. A conversation holds only its model view
 * in memory; the turns a compaction folded are still in the journal, whole.
 */
public interface JournalReader {
  /** The turn {@code turnId} of {@code persistenceId}, as the journal has it, or empty when there is none. */
  CompletionStage<Optional<ConversationEntity.Turn>> turn(String persistenceId, String turnId);
}
