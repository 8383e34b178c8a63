package dev.talon.conversation;

/** Token counts of a turn's answering call. */
public record TokenUsage(long inputTokens, long outputTokens, long cachedTokens, long reasoningTokens)
    implements JsonSerializable {
  public static final TokenUsage NONE = new TokenUsage(0, 0, 0, 0);

  /** The counts of two calls together. */
  public TokenUsage plus(TokenUsage other) {
    return new TokenUsage(inputTokens + other.inputTokens, outputTokens + other.outputTokens,
        cachedTokens + other.cachedTokens, reasoningTokens + other.reasoningTokens);
  }
}
