package dev.talon.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.upstream.ModelEvent.Completed;
import dev.talon.upstream.ModelEvent.FinishReason;
import dev.talon.upstream.ModelEvent.ReasoningDelta;
import dev.talon.upstream.ModelEvent.TextDelta;
import dev.talon.upstream.ModelEvent.ToolCall;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The Anthropic Messages stream ({@code anthropic-messages}): content blocks of text, thinking
 * and tool use, usage split between {@code message_start} (input) and {@code message_delta}
 * (output), {@code message_stop} as the terminal event.
 */
final class AnthropicStreamParser implements StreamParser {
  private final Map<Integer, ToolUse> toolUses = new HashMap<>();
  private long inputTokens;
  private long cachedTokens;
  private long outputTokens;
  private FinishReason finish = FinishReason.STOP;
  private boolean toolUsed;
  private boolean stopped;

  @Override
  public List<ModelEvent> onEvent(String eventType, EventData data) {
    JsonNode event = Frames.read(data.text());
    if (event == null) {
      return List.of(); // proxies may append [DONE]; message_stop is the terminal event here
    }
    return switch (event.path("type").asText(eventType == null ? "" : eventType)) {
      case "message_start" -> messageStart(event.path("message").path("usage"));
      case "content_block_start" -> blockStart(event);
      case "content_block_delta" -> blockDelta(event);
      case "content_block_stop" -> blockStop(event.path("index").asInt());
      case "message_delta" -> messageDelta(event);
      case "message_stop" -> messageStop();
      default -> List.of(); // ping, and event types added later
    };
  }

  private List<ModelEvent> messageStart(JsonNode usage) {
    cachedTokens = usage.path("cache_read_input_tokens").asLong();
    // Anthropic counts cached and cache-written input apart from input_tokens.
    inputTokens = usage.path("input_tokens").asLong() + cachedTokens + usage.path("cache_creation_input_tokens").asLong();
    outputTokens = usage.path("output_tokens").asLong();
    return List.of();
  }

  private List<ModelEvent> blockStart(JsonNode event) {
    JsonNode block = event.path("content_block");
    if ("tool_use".equals(block.path("type").asText())) {
      JsonNode input = block.path("input");
      toolUses.put(event.path("index").asInt(), new ToolUse(block.path("id").asText(), block.path("name").asText(),
          input.isObject() && input.size() > 0 ? input.toString() : ""));
    }
    String text = block.path("text").asText("");
    return text.isEmpty() ? List.of() : List.of(new TextDelta(text));
  }

  private List<ModelEvent> blockDelta(JsonNode event) {
    JsonNode delta = event.path("delta");
    return switch (delta.path("type").asText()) {
      case "text_delta" -> nonEmpty(new TextDelta(delta.path("text").asText("")));
      case "thinking_delta" -> nonEmpty(new ReasoningDelta(delta.path("thinking").asText("")));
      case "input_json_delta" -> {
        ToolUse use = toolUses.get(event.path("index").asInt());
        if (use != null) {
          use.json.append(delta.path("partial_json").asText(""));
        }
        yield List.of();
      }
      default -> List.of(); // signature_delta, citations
    };
  }

  private static List<ModelEvent> nonEmpty(ModelEvent event) {
    boolean empty = event instanceof TextDelta t ? t.text().isEmpty() : ((ReasoningDelta) event).text().isEmpty();
    return empty ? List.of() : List.of(event);
  }

  private List<ModelEvent> blockStop(int index) {
    ToolUse use = toolUses.remove(index);
    if (use == null) {
      return List.of();
    }
    toolUsed = true;
    return List.of(new ToolCall(use.id, use.name, use.json.length() == 0 ? "{}" : use.json.toString()));
  }

  private List<ModelEvent> messageDelta(JsonNode event) {
    JsonNode usage = event.path("usage");
    if (usage.has("output_tokens")) {
      outputTokens = usage.get("output_tokens").asLong();
    }
    finish = switch (event.path("delta").path("stop_reason").asText("end_turn")) {
      case "end_turn", "stop_sequence", "pause_turn" -> FinishReason.STOP;
      case "tool_use" -> FinishReason.TOOL_CALLS;
      case "max_tokens", "model_context_window_exceeded" -> FinishReason.LENGTH;
      case "refusal" -> FinishReason.CONTENT_FILTER;
      default -> FinishReason.OTHER;
    };
    return List.of();
  }

  private List<ModelEvent> messageStop() {
    stopped = true;
    FinishReason reason = finish == FinishReason.STOP && toolUsed ? FinishReason.TOOL_CALLS : finish;
    return List.of(new ModelEvent.Usage(inputTokens, outputTokens, cachedTokens, 0), new Completed(reason));
  }

  @Override
  public List<ModelEvent> onEnd() {
    if (!stopped) {
      throw StreamParser.truncated("the connection closed before message_stop");
    }
    return List.of();
  }

  @Override
  public boolean finished() {
    return stopped;
  }

  private static final class ToolUse {
    final String id;
    final String name;
    final StringBuilder json;

    ToolUse(String id, String name, String initialJson) {
      this.id = id;
      this.name = name;
      this.json = new StringBuilder(initialJson);
    }
  }
}
