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
 * @param parts who wrote the text, in order: more than one when a model failed mid-answer and
 *     another call continued it (empty in turns journaled before parts were recorded)
 */
public record TurnResult(
    List<OutputItem> output,
    String reasoning,
    String model,
    List<Attempt> attempts,
    TokenUsage usage,
    double costUsd,
    String finishReason,
    List<Part> parts) implements JsonSerializable {

  public TurnResult {
    output = List.copyOf(output);
    attempts = List.copyOf(attempts);
    parts = parts == null ? List.of() : List.copyOf(parts);
  }

  /** {@code model} wrote the characters {@code [start, end)} of {@link #text()}. */
  public record Part(String model, int start, int end) implements JsonSerializable {}

  /** Whether Talon ran MCP tools for the answer: its output holds their calls. */
  public boolean ranTools() {
    return output.stream().anyMatch(OutputItem.McpCall.class::isInstance);
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
