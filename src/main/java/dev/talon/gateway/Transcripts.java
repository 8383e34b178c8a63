package dev.talon.gateway;

import dev.talon.conversation.Attempt;
import dev.talon.conversation.ConversationEntity;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.conversation.OutputItem;
import dev.talon.conversation.TurnEvent;
import java.util.ArrayList;
import java.util.List;

/**
 * A stored turn told again as turn events, so the wire formats have one input whatever the source.
 * The journal keeps the outcome, not the stream: each item comes as one delta, reasoning first,
 * and what a restarted attempt streamed before it failed is gone.
 */
final class Transcripts {
  private Transcripts() {}

  static List<TurnEvent> events(Turn turn) {
    List<TurnEvent> events = new ArrayList<>();
    List<Attempt> attempts = attempts(turn);
    // The live stream started with the first candidate tried, which the first attempt names.
    String model = !attempts.isEmpty() ? attempts.get(0).model() : turn.requestedModel();
    events.add(new TurnEvent.Started(turn.turnId(), model));
    switch (turn.status()) {
      case COMPLETED -> {
        if (turn.result().reasoning() != null && !turn.result().reasoning().isEmpty()) {
          events.add(new TurnEvent.ReasoningDelta(turn.result().reasoning()));
        }
        for (OutputItem item : turn.result().output()) {
          events.add(item instanceof OutputItem.FunctionCall call
              ? new TurnEvent.ToolCall(call.callId(), call.name(), call.arguments())
              : new TurnEvent.TextDelta(((OutputItem.Text) item).text()));
        }
        events.add(new TurnEvent.Completed(turn.result()));
      }
      case FAILED -> events.add(new TurnEvent.Failed(turn.failure().reason(), turn.failure().kind(),
          turn.failure().attempts()));
      case INTERRUPTED -> events.add(new TurnEvent.Failed("the process stopped during this turn",
          ConversationEntity.INTERRUPTED, List.of()));
      case RUNNING -> { } // in progress: the response so far is the one just started
    }
    return events;
  }

  /** Every call made for the turn, as its outcome records them; none while it runs or when interrupted. */
  static List<Attempt> attempts(Turn turn) {
    return turn.result() != null ? turn.result().attempts()
        : turn.failure() != null ? turn.failure().attempts() : List.of();
  }
}
