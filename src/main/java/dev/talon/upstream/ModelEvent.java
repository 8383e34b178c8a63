package dev.talon.upstream;

/**
 * One event of a model call, whatever the wire protocol behind it. A model call is a
 * {@code Source<ModelEvent, ?>} that emits deltas, complete tool calls and usage, then exactly one
 * {@link Completed}; a fault fails the stream with an {@link UpstreamException} instead.
 */
public sealed interface ModelEvent {

  /** Visible answer text. */
  record TextDelta(String text) implements ModelEvent {}

  /** Reasoning ("thinking") text: kept apart from the answer, never mixed into it. */
  record ReasoningDelta(String text) implements ModelEvent {}

  /** A complete function call: arguments are the whole JSON string, even if no deltas were sent. */
  record ToolCall(String callId, String name, String arguments) implements ModelEvent {}

  /** Token counts as reported by the server; the last one seen wins. */
  record Usage(long inputTokens, long outputTokens, long cachedTokens, long reasoningTokens)
      implements ModelEvent {
    public static final Usage NONE = new Usage(0, 0, 0, 0);

    public long totalTokens() {
      return inputTokens + outputTokens;
    }
  }

  /** The terminal event of a call that ended normally, including one cut short by a length cap. */
  record Completed(FinishReason reason) implements ModelEvent {}

  enum FinishReason {
    /** The model finished its answer. */
    STOP,
    /** The model stopped to have tools called. */
    TOOL_CALLS,
    /** Cut at the output token cap (Responses "incomplete: max_output_tokens", Chat "length"). */
    LENGTH,
    /** Cut by the server's content filter. */
    CONTENT_FILTER,
    /** A finish reason this runtime does not know; the call still ended normally. */
    OTHER
  }
}
