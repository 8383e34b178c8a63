package dev.talon.conversation;

import java.util.concurrent.CompletionStage;
import org.apache.pekko.Done;

/**
 * Removes every journal row and snapshot of one persistence id, for good. The journal plugin's
 * own deletion keeps the highest event row (and cannot reach the snapshots), so erasing a
 * conversation needs the store itself.
 */
public interface JournalEraser {
  /** Completes once nothing of {@code persistenceId} is left; fails when the store refused. */
  CompletionStage<Done> erase(String persistenceId);
}
