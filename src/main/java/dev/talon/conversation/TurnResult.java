package dev.talon.conversation;

import java.util.List;

/**
 * The outcome of a turn that a model answered: only the final answer, never a partial output
 * of a model that failed over.
 *
 * @param model the ref of the model that actually answered
 * @param attempts every call made for this turn, the successful one last
 * @param finishReason {@code stop}, {@code tool_calls}, {@code length}, {@code content_filter} or {@code other}
 * @param costUsd from the catalog's prices for {@code model}
 */
public record TurnResult(
    List<OutputItem> output,
    String reasoning,
    String model,
    List<Attempt> attempts,
    TokenUsage usage,
    double costUsd,
    String finishReason) implements JsonSerializable {

  public TurnResult {
    output = List.copyOf(output);
    attempts = List.copyOf(attempts);
  }

  /** The answer's text, all text items joined. */
  public String text() {
    StringBuilder out = new StringBuilder();
    for (OutputItem item : output) {
      if (item instanceof OutputItem.Text text) {
        out.append(text.text());
      }
    }
    return out.toString();
  }
}
