package dev.talon.upstream;

import java.util.List;

/**
 * Turns one protocol's server-sent events into {@link ModelEvent}s. Stateful: one instance per
 * model call. A successful call ends with exactly one {@link ModelEvent.Completed}, preceded by
 * its usage; an error reported in the stream throws an {@link UpstreamException}.
 */
interface StreamParser {

  /**
   * One SSE event.
   *
   * @param eventType the {@code event:} field, or null for a data-only frame
   * @param data the {@code data:} lines joined, valid only during the call
   * @return the events it yields, often none
   */
  List<ModelEvent> onEvent(String eventType, EventData data);

  /** The connection ended: the last events, or TRUNCATED when no terminal event was seen. */
  List<ModelEvent> onEnd();

  /** True once the stream is logically over; the transport may stop reading. */
  boolean finished();

  /** @param thinkTags whether inline {@code <think>} tags in chat content are read as reasoning */
  static StreamParser forApi(dev.talon.config.Api api, boolean thinkTags) {
    return switch (api) {
      case OPENAI_RESPONSES -> new ResponsesStreamParser();
      case OPENAI_COMPLETIONS -> new ChatStreamParser(thinkTags);
      case ANTHROPIC_MESSAGES -> new AnthropicStreamParser();
    };
  }

  static UpstreamException truncated(String what) {
    return new UpstreamException(UpstreamFailure.of(UpstreamFailure.Kind.TRUNCATED, what));
  }
}
