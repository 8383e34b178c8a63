package dev.talon.compaction;

import dev.talon.config.CompactionSettings;
import dev.talon.config.Model;

/**
 * How many tokens a request to one model may hold. The prompt budget is the model's context
 * ({@code contextTokens}, else its window) less the tokens it may write and a reserve. On a small
 * window the reserve, and output tokens configured above half the window, shrink so that at
 * least half of the window stays usable: a budget of a few tokens would compact on every turn.
 *
 * @param context the tokens the model reads and writes in one call
 * @param output what is kept free for its answer
 * @param reserve what is kept free on top, for the estimate's error and the next message
 */
public record Budget(int context, int output, int reserve) {

  /** @param maxOutputTokens what the request asks the model to write at most, or null for the model's {@code maxTokens} */
  public static Budget of(Model model, Integer maxOutputTokens, CompactionSettings settings) {
    int context = model.contextBudget();
    int half = context / 2;
    int output = Math.min(maxOutputTokens != null ? maxOutputTokens : model.maxTokens(), half);
    int reserve = Math.min(settings.reserveTokens(), half - output);
    return new Budget(context, output, reserve);
  }

  /** The tokens a request's prompt may hold: instructions, tools and input. */
  public int promptTokens() {
    return context - output - reserve;
  }

  /**
   * How much of the newest history a compaction keeps: {@code keepRecentTokens}, but at most
   * half the prompt budget, so that the summary and the next message fit beside it.
   */
  public long keepTokens(CompactionSettings settings) {
    return Math.min(settings.keepRecentTokens(), promptTokens() / 2);
  }

  /** The longest summary, in tokens: a quarter of the prompt budget, and never over {@code maxSummaryChars}. */
  public int summaryTokens(CompactionSettings settings) {
    return Math.max(1, Math.min(promptTokens() / 4, settings.maxSummaryChars() / 4));
  }
}
