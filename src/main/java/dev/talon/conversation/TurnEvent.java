package dev.talon.conversation;

import java.util.List;

/**
 * What subscribers of a running turn see, in order. A turn's events start with {@link Started},
 * end with exactly one {@link Completed} or {@link Failed}, and may contain
 * {@link ModelSwitched} when the turn moved to another candidate; if it says to discard output,
 * everything streamed before it is void. A compaction ahead of a call shows as
 * {@link CompactionStarted} followed by {@link Compacted}.
 */
public sealed interface TurnEvent extends JsonSerializable {

  /** The turn began; {@code model} is the first candidate tried. */
  record Started(String turnId, String model) implements TurnEvent {}

  record TextDelta(String text) implements TurnEvent {}

  record ReasoningDelta(String text) implements TurnEvent {}

  record ToolCall(String callId, String name, String arguments) implements TurnEvent {}

  /**
   * The turn moved to another model (or {@code toModel} restarts) after {@code fromModel} failed.
   * With {@code discardOutput}, what was streamed so far is void and the new call starts from
   * scratch; without, it stands and the new call's output follows on.
   */
  record ModelSwitched(String fromModel, String toModel, String reason, boolean discardOutput)
      implements TurnEvent {}

  /**
   * The conversation is being compacted before the next call, so that it fits {@code model}: the
   * {@code foldedTurns} oldest turns of a view of {@code tokensBefore} tokens are being summarised.
   */
  record CompactionStarted(String trigger, String model, long tokensBefore, int foldedTurns) implements TurnEvent {}

  /** The compaction is done; the model view is now its summary and the turns kept. */
  record Compacted(Compaction compaction) implements TurnEvent {}

  record Completed(TurnResult result) implements TurnEvent {}

  /** Every candidate failed, or the turn was cancelled. */
  record Failed(String reason, String kind, List<Attempt> attempts) implements TurnEvent {}
}
