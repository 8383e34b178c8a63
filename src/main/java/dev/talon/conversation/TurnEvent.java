package dev.talon.conversation;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;

/**
 * What subscribers of a running turn see, in order. A turn's events start with {@link Started},
 * end with exactly one {@link Completed} or {@link Failed}, and may contain
 * {@link ModelSwitched} when the turn moved to another candidate; if it says to discard output,
 * everything streamed before it is void. A compaction ahead of a call shows as
 * {@link CompactionStarted} followed by {@link Compacted}.
 *
 * <p>A turn whose agent may use MCP tools lists them ({@link ToolsListed}, one per server) before
 * its first model call. Each tool call the model makes then shows as {@link ToolCallStarted} (or
 * {@link ApprovalRequired} first, for a call that waits for a person) and ends with
 * {@link ToolCallFinished}; the model is called again with the results, and its output follows.
 * Only the last call's {@link Started} is not repeated: one turn, one start.
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

  /**
   * The tools of MCP server {@code server} that this turn's model is shown (none, with
   * {@code error} saying why, when the server could not list them).
   */
  record ToolsListed(String server, List<ListedTool> tools, String error) implements TurnEvent {
    public ToolsListed {
      tools = List.copyOf(tools);
    }
  }

  /** One listed tool, as its server describes it. */
  record ListedTool(String name, String description, JsonNode inputSchema) implements JsonSerializable {}

  /** The call waits for a person: approve or refuse it through the turn's approve endpoint. */
  record ApprovalRequired(OutputItem.McpCall call) implements TurnEvent {}

  /** The call is journaled and runs now. */
  record ToolCallStarted(OutputItem.McpCall call) implements TurnEvent {}

  /** The call ended: completed, failed, refused or interrupted, with what the model is shown. */
  record ToolCallFinished(OutputItem.McpCall call) implements TurnEvent {}

  record Completed(TurnResult result) implements TurnEvent {}

  /** Every candidate failed, or the turn was cancelled. */
  record Failed(String reason, String kind, List<Attempt> attempts) implements TurnEvent {}
}
