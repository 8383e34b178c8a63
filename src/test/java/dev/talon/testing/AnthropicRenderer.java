package dev.talon.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.testing.Script.ArgumentDeltas;
import dev.talon.testing.Script.ToolCall;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code POST /v1/messages} (Anthropic Messages): {@code message_start}, a {@code ping}, one {@code
 * content_block_start/_delta…/_stop} run per block (thinking, text, tool_use), {@code
 * message_delta} with the stop reason and output usage, {@code message_stop}.
 */
final class AnthropicRenderer implements Renderer {
  private static final String SIGNATURE = "RmFrZVVwc3RyZWFtVGhpbmtpbmdTaWduYXR1cmU=";

  private final Request request;
  private final Script script;
  private final String id = Json.id("msg_");
  private final List<String> toolUseIds = new ArrayList<>();

  AnthropicRenderer(Request request, Script script) {
    this.request = request;
    this.script = script;
    script.toolCalls.forEach(call -> toolUseIds.add(Json.id("toolu_")));
  }

  @Override
  public List<SseEvent> events() {
    List<SseEvent> events = new ArrayList<>();
    ObjectNode message = message();
    message.putNull("stop_reason");
    message.putNull("stop_sequence");
    message.set("usage", usage(1)); // Anthropic reports one output token at the start
    events.add(SseEvent.of(typed("message_start").set("message", message)));
    events.add(SseEvent.of(typed("ping")));
    int index = 0;
    List<String> thinking = script.separateReasoningTokens();
    if (!thinking.isEmpty()) {
      ObjectNode block = Json.object().put("type", "thinking").put("thinking", "");
      streamBlock(events, index++, block, "thinking_delta", "thinking", thinking);
    }
    if (hasText()) {
      ObjectNode block = Json.object().put("type", "text").put("text", "");
      streamBlock(events, index++, block, "text_delta", "text", script.visibleTokens());
    }
    for (int i = 0; i < script.toolCalls.size(); i++) {
      ToolCall call = script.toolCalls.get(i);
      ObjectNode block =
          Json.object()
              .put("type", "tool_use")
              .put("id", toolUseIds.get(i))
              .put("name", call.name());
      block.putObject("input");
      // Anthropic always streams the input as JSON deltas: "no deltas" still sends one.
      List<String> pieces =
          script.argumentDeltas == ArgumentDeltas.NONE
              ? List.of(call.arguments())
              : script.argumentPieces(call);
      streamBlock(events, index++, block, "input_json_delta", "partial_json", pieces);
    }
    ObjectNode messageDelta = typed("message_delta");
    messageDelta.putObject("delta").put("stop_reason", stopReason()).putNull("stop_sequence");
    messageDelta.putObject("usage").put("output_tokens", script.usageFor(request).outputTokens());
    events.add(SseEvent.of(messageDelta));
    events.add(SseEvent.of(typed("message_stop")));
    return events;
  }

  @Override
  public List<SseEvent> streamError(JsonNode errorBody) {
    ObjectNode event = typed("error");
    event.set("error", Renderer.errorObject(errorBody).deepCopy());
    return List.of(SseEvent.of(event));
  }

  @Override
  public JsonNode body() {
    ObjectNode message = message();
    ArrayNode content = (ArrayNode) message.get("content");
    List<String> thinking = script.separateReasoningTokens();
    if (!thinking.isEmpty()) {
      content
          .addObject()
          .put("type", "thinking")
          .put("thinking", String.join("", thinking))
          .put("signature", SIGNATURE);
    }
    if (hasText()) {
      content.addObject().put("type", "text").put("text", String.join("", script.visibleTokens()));
    }
    for (int i = 0; i < script.toolCalls.size(); i++) {
      ToolCall call = script.toolCalls.get(i);
      ObjectNode block =
          content
              .addObject()
              .put("type", "tool_use")
              .put("id", toolUseIds.get(i))
              .put("name", call.name());
      block.set("input", Json.parse(call.arguments()));
    }
    message.put("stop_reason", stopReason());
    message.putNull("stop_sequence");
    message.set("usage", usage(script.usageFor(request).outputTokens()));
    return message;
  }

  @Override
  public JsonNode defaultError() {
    return ErrorBodies.anthropicOverloaded();
  }

  @Override
  public ServerKind server() {
    return ServerKind.ANTHROPIC;
  }

  @Override
  public EventStream.Defaults framing() {
    return new EventStream.Defaults(false, false);
  }

  private boolean hasText() {
    return !script.visibleTokens().isEmpty() || script.toolCalls.isEmpty();
  }

  /**
   * content_block_start, a delta per token (thinking ends with its signature), content_block_stop.
   */
  private void streamBlock(
      List<SseEvent> events,
      int index,
      ObjectNode block,
      String deltaType,
      String deltaField,
      List<String> tokens) {
    events.add(
        SseEvent.of(typed("content_block_start").put("index", index).set("content_block", block)));
    for (String token : tokens) {
      events.add(SseEvent.token(blockDelta(index, deltaType, deltaField, token)));
    }
    if (deltaType.equals("thinking_delta")) {
      events.add(SseEvent.of(blockDelta(index, "signature_delta", "signature", SIGNATURE)));
    }
    events.add(SseEvent.of(typed("content_block_stop").put("index", index)));
  }

  private static ObjectNode blockDelta(int index, String type, String field, String value) {
    ObjectNode event = typed("content_block_delta").put("index", index);
    event.putObject("delta").put("type", type).put(field, value);
    return event;
  }

  private ObjectNode message() {
    ObjectNode message =
        Json.object().put("id", id).put("type", "message").put("role", "assistant");
    message.put("model", request.model());
    message.putArray("content");
    return message;
  }

  private ObjectNode usage(int outputTokens) {
    return Json.object()
        .put("input_tokens", script.usageFor(request).inputTokens())
        .put("cache_creation_input_tokens", 0)
        .put("cache_read_input_tokens", 0)
        .put("output_tokens", outputTokens);
  }

  private String stopReason() {
    return switch (script.finishReason()) {
      case STOP -> "end_turn";
      case LENGTH -> "max_tokens";
      case TOOL_CALLS -> "tool_use";
      case CONTENT_FILTER -> "refusal";
    };
  }

  private static ObjectNode typed(String type) {
    return Json.object().put("type", type);
  }
}
