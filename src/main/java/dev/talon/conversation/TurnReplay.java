package dev.talon.conversation;

import dev.talon.conversation.ConversationEntity.ConversationReset;
import dev.talon.conversation.ConversationEntity.Event;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.conversation.ConversationEntity.TurnStarted;
import java.util.List;
import java.util.Optional;

/**
 * A conversation's turns told again from its journal events, numbered from 1, for readers of
 * the journal: a turn is told once it is final (the next one started) or at the end of the
 * events. Memory holds one turn at a time, whatever the conversation's length.
 */
public final class TurnReplay {

  /** A turn and its place in the conversation, counting from 1. */
  public record Numbered(int number, Turn turn) {}

  private int count;
  private Turn open;

  /** The turns {@code event} made final: the one before a turn that starts, or none. */
  public List<Numbered> apply(Event event) {
    if (event instanceof TurnStarted started) {
      List<Numbered> done = open == null ? List.of() : List.of(new Numbered(count, open));
      open = Turn.started(started);
      count++;
      return done;
    }
    if (event instanceof ConversationReset) {
      open = null;
      count = 0;
    } else if (open != null && event instanceof ConversationEntity.ToolCallStarted started) {
      open = open.withCall(started.call());
    } else if (open != null && event instanceof ConversationEntity.ToolCallFinished finished) {
      open = open.withCall(finished.call());
    } else if (open != null && !(event instanceof ConversationEntity.Compacted)) {
      open = open.ended(event);
    }
    return List.of();
  }

  /** The last turn, once the events are over. */
  public Optional<Numbered> last() {
    return open == null ? Optional.empty() : Optional.of(new Numbered(count, open));
  }
}
