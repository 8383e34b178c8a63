package dev.talon.gateway;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.conversation.Compaction;
import dev.talon.conversation.TurnEvent;
import java.util.function.Function;

/** Compactions on the wire: in streams (Responses events, chat marker chunks) and in conversation reads. */
final class CompactionJson {
  private CompactionJson() {}

  /** The Responses event type a client sees when a compaction starts, and when it is done. */
  static final String STARTED = "talon.compaction.started";
  static final String COMPLETED = "talon.compaction.completed";

  static ObjectNode started(TurnEvent.CompactionStarted started) {
    return Json.object().put("trigger", started.trigger()).put("model", started.model())
        .put("tokens_before", started.tokensBefore()).put("folded_turns", started.foldedTurns());
  }

  /**
   * In a stream: what changed, without the summary's text.
   */
  static ObjectNode completed(Compaction compaction) {
    return Json.object().put("trigger", compaction.trigger()).put("model", compaction.model())
        .put("tokens_before", compaction.tokensBefore()).put("tokens_after", compaction.tokensAfter())
        .put("folded_turns", compaction.foldedTurns()).put("summary_chars", compaction.summary().length())
        .put("created_at", compaction.at().getEpochSecond());
  }

  /**
   * Read back: with the summary and the first turn models still see in full.
   *
   * @param responseId the response id of a turn, by its turn id
   */
  static ObjectNode stored(Compaction compaction, Function<String, String> responseId) {
    return completed(compaction).put("first_kept_response_id", responseId.apply(compaction.firstKeptTurnId()))
        .put("summary", compaction.summary());
  }
}
