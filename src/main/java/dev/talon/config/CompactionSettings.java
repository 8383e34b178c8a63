package dev.talon.config;

/**
 * How a conversation is kept within its model's context ({@code agents.defaults.compaction}):
 * older turns are folded into a summary, the newest kept as they were.
 *
 * @param enabled false turns off compacting after a turn that left the conversation over its
 *     budget; a request that would not fit its model is compacted first regardless
 * @param reserveTokens kept free below the window, on top of the output tokens (capped so that at
 *     least half of a small window stays usable)
 * @param keepRecentTokens how much of the newest history a compaction keeps verbatim (scaled
 *     down for small windows)
 * @param model the model that writes summaries, or null for the model the turn is about to call
 * @param maxSummaryChars a summary longer than this is cut
 */
public record CompactionSettings(boolean enabled, int reserveTokens, int keepRecentTokens, Model model,
    int maxSummaryChars) {
  public static final CompactionSettings DEFAULTS = new CompactionSettings(true, 20_000, 20_000, null, 16_000);
}
