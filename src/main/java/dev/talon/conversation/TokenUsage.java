package dev.talon.conversation;

/** Token counts of a turn's answering call. */
public record TokenUsage(long inputTokens, long outputTokens, long cachedTokens, long reasoningTokens)
    implements JsonSerializable {
  public static final TokenUsage NONE = new TokenUsage(0, 0, 0, 0);
}
