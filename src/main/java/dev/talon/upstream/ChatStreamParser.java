package dev.talon.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.upstream.ModelEvent.Completed;
import dev.talon.upstream.ModelEvent.FinishReason;
import dev.talon.upstream.ModelEvent.ReasoningDelta;
import dev.talon.upstream.ModelEvent.ToolCall;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;

/**
 * The Chat Completions stream ({@code openai-completions}, protocols.md §3): content deltas,
 * reasoning from any of its channels ({@code reasoning_content}, {@code reasoning},
 * {@code reasoning_details}, inline {@code <think>}), tool calls accumulated by index, usage from
 * whichever chunk carries it, and errors in any chunk. Usage may follow the finish chunk, so the
 * call completes at {@code [DONE]} or at the end of the connection.
 */
final class ChatStreamParser implements StreamParser {
  private final ThinkTagSplitter content;
  private final boolean fastPath;
  private final TreeMap<Integer, ToolCallState> toolCalls = new TreeMap<>();
  private FinishReason finish;
  private ModelEvent.Usage usage;
  private boolean done;

  ChatStreamParser(boolean thinkTags) {
    this(thinkTags, true);
  }

  /** @param fastPath false reads every chunk as a tree: what the fast path is tested against */
  ChatStreamParser(boolean thinkTags, boolean fastPath) {
    this.content = new ThinkTagSplitter(thinkTags);
    this.fastPath = fastPath;
  }

  @Override
  public List<ModelEvent> onEvent(String eventType, EventData data) {
    // An "event: error" frame is an error whatever it holds: only the tree reading reports it.
    FastFrames.ChatContent simple = fastPath && !"error".equals(eventType) ? FastFrames.chatContent(data) : null;
    if (simple != null) {
      List<ModelEvent> out = new ArrayList<>(2);
      if (simple.content() != null) {
        out.addAll(content.accept(simple.content()));
      }
      finish(simple.finishReason(), out);
      return out;
    }
    JsonNode chunk = Frames.read(data.text());
    if (chunk == null) {
      done = true;
      return List.of();
    }
    if ("error".equals(eventType)) {
      throw new UpstreamException(ErrorClassifier.fromStreamError(chunk));
    }
    if (chunk.path("usage").isObject()) {
      JsonNode u = chunk.get("usage");
      usage = new ModelEvent.Usage(u.path("prompt_tokens").asLong(), u.path("completion_tokens").asLong(),
          u.path("prompt_tokens_details").path("cached_tokens").asLong(),
          u.path("completion_tokens_details").path("reasoning_tokens").asLong());
    }
    JsonNode choice = chunk.path("choices").path(0);
    if (choice.isMissingNode()) {
      return List.of();
    }
    List<ModelEvent> out = new ArrayList<>(2);
    JsonNode delta = choice.path("delta");
    reasoning(delta, out);
    if (delta.path("content").isTextual()) {
      out.addAll(content.accept(delta.get("content").asText()));
    }
    for (JsonNode fragment : delta.path("tool_calls")) {
      toolCalls.computeIfAbsent(fragment.path("index").asInt(toolCalls.size()), i -> new ToolCallState())
          .absorb(fragment.path("id"), fragment.path("function"));
    }
    if (delta.path("function_call").isObject()) { // the deprecated single-call form
      toolCalls.computeIfAbsent(-1, i -> new ToolCallState()).absorb(delta.path("id"), delta.get("function_call"));
    }
    finish(choice.hasNonNull("finish_reason") ? choice.get("finish_reason").asText() : null, out);
    return out;
  }

  /** The first finish reason ends the content channel and completes the tool calls. */
  private void finish(String reason, List<ModelEvent> out) {
    if (reason != null && finish == null) {
      finish = finishReason(reason);
      out.addAll(content.flush());
      toolCalls.values().forEach(call -> out.add(call.toEvent()));
      toolCalls.clear();
    }
  }

  /** Reasoning in a field of its own; seeing one turns inline tag parsing off (rule 9). */
  private void reasoning(JsonNode delta, List<ModelEvent> out) {
    String text = null;
    if (delta.path("reasoning_content").isTextual()) {
      text = delta.get("reasoning_content").asText();
    } else if (delta.path("reasoning").isTextual()) {
      text = delta.get("reasoning").asText();
    } else if (delta.path("reasoning_details").isArray()) {
      // OpenRouter repeats the text of "reasoning" here; read it only when it stands alone.
      StringBuilder details = new StringBuilder();
      for (JsonNode detail : delta.get("reasoning_details")) {
        details.append(detail.path("text").asText(detail.path("summary").asText("")));
      }
      text = details.toString();
    }
    if (text != null) {
      out.addAll(content.disable());
      if (!text.isEmpty()) {
        out.add(new ReasoningDelta(text));
      }
    }
  }

  @Override
  public List<ModelEvent> onEnd() {
    if (finish == null && !done) {
      throw StreamParser.truncated("the connection closed before the completion finished");
    }
    List<ModelEvent> out = new ArrayList<>(content.flush());
    toolCalls.values().forEach(call -> out.add(call.toEvent()));
    if (usage != null) {
      out.add(usage);
    }
    // A [DONE] with no finish_reason: the server says it is done, without saying why.
    out.add(new Completed(finish != null ? finish : FinishReason.OTHER));
    return out;
  }

  @Override
  public boolean finished() {
    return done;
  }

  private static FinishReason finishReason(String reason) {
    return switch (reason) {
      case "stop", "end_turn" -> FinishReason.STOP;
      case "tool_calls", "function_call" -> FinishReason.TOOL_CALLS;
      case "length" -> FinishReason.LENGTH;
      case "content_filter" -> FinishReason.CONTENT_FILTER;
      default -> FinishReason.OTHER;
    };
  }

  private static final class ToolCallState {
    final StringBuilder arguments = new StringBuilder();
    String id;
    String name;

    void absorb(JsonNode id, JsonNode function) {
      if (this.id == null && !id.asText("").isEmpty()) {
        this.id = id.asText();
      }
      // Old LM Studio sent "name": "" on continuation fragments: keep the known name.
      if (!function.path("name").asText("").isEmpty()) {
        name = function.get("name").asText();
      }
      arguments.append(function.path("arguments").asText(""));
    }

    ToolCall toEvent() {
      return new ToolCall(id, name, arguments.length() == 0 ? "{}" : arguments.toString());
    }
  }
}
