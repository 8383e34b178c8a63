package dev.talon.gateway;

import dev.talon.conversation.Attempt;
import dev.talon.conversation.ConversationEntity;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.conversation.OutputItem;
import dev.talon.conversation.OutputItem.McpCall;
import dev.talon.conversation.TurnEvent;
import java.util.ArrayList;
import java.util.List;

/**
 * A stored turn told again as turn events, so the wire formats have one input whatever the source.
 * The journal keeps the outcome, not the stream: each item comes as one delta, reasoning first,
 * and what a restarted attempt streamed before it failed is gone. So are the MCP servers' tool
 * listings; each MCP call comes as it stands (ended, running or waiting for approval).
 */
final class Transcripts {
  private Transcripts() {}

  static List<TurnEvent> events(Turn turn) {
    List<TurnEvent> events = new ArrayList<>();
    List<Attempt> attempts = attempts(turn);
    // The live stream started with the first candidate tried, which the first attempt names.
    String model = !attempts.isEmpty() ? attempts.get(0).model() : turn.requestedModel();
    events.add(new TurnEvent.Started(turn.turnId(), model));
    // a turn that did not complete has its calls apart; a completed one's are in its output
    turn.toolCalls().forEach(call -> events.add(event(call)));
    switch (turn.status()) {
      case COMPLETED -> {
        if (turn.result().reasoning() != null && !turn.result().reasoning().isEmpty()) {
          events.add(new TurnEvent.ReasoningDelta(turn.result().reasoning()));
        }
        for (OutputItem item : turn.result().output()) {
          events.add(event(item));
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

  private static TurnEvent event(OutputItem item) {
    if (item instanceof OutputItem.FunctionCall call) {
      return new TurnEvent.ToolCall(call.callId(), call.name(), call.arguments());
    }
    if (item instanceof McpCall call) {
      return switch (call.status()) {
        case AWAITING_APPROVAL -> new TurnEvent.ApprovalRequired(call);
        case RUNNING -> new TurnEvent.ToolCallStarted(call);
        default -> new TurnEvent.ToolCallFinished(call);
      };
    }
    return new TurnEvent.TextDelta(((OutputItem.Text) item).text());
  }

  /** Every call made for the turn, as its outcome records them; none while it runs or when interrupted. */
  static List<Attempt> attempts(Turn turn) {
    return turn.result() != null ? turn.result().attempts()
        : turn.failure() != null ? turn.failure().attempts() : List.of();
  }
}
