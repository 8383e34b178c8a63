package dev.talon.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.upstream.ModelEvent.Completed;
import dev.talon.upstream.ModelEvent.FinishReason;
import dev.talon.upstream.ModelEvent.ReasoningDelta;
import dev.talon.upstream.ModelEvent.TextDelta;
import dev.talon.upstream.ModelEvent.ToolCall;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The Responses API stream ({@code openai-responses}) as OpenAI, LM Studio, vLLM, llama.cpp,
 * Ollama, OpenRouter and LiteLLM send it (protocols.md §0, §2.9–2.11). Dispatches on the JSON
 * {@code type}, never on the SSE event name; keys function-call state by {@code output_index},
 * falling back to {@code item_id} (llama.cpp sends no index); creates state lazily, since items
 * may close out of order or arrive without {@code output_item.added}; ignores unknown types.
 */
final class ResponsesStreamParser implements StreamParser {
  /** The events that carry nothing but text: true for reasoning, false for answer text. */
  static final Map<String, Boolean> DELTAS = Map.of("response.output_text.delta", false,
      "response.refusal.delta", false, "response.reasoning_text.delta", true,
      "response.reasoning_summary_text.delta", true, "response.reasoning.delta", true);

  private final Map<String, FunctionCallState> calls = new LinkedHashMap<>();
  private final Map<String, String> keyByItemId = new HashMap<>();
  private final Set<String> emittedCallIds = new HashSet<>();

  private final boolean fastPath;
  private boolean terminal;
  private boolean done;

  ResponsesStreamParser() {
    this(true);
  }

  /** @param fastPath false reads every event as a tree: what the fast path is tested against */
  ResponsesStreamParser(boolean fastPath) {
    this.fastPath = fastPath;
  }

  @Override
  public List<ModelEvent> onEvent(String eventType, EventData data) {
    FastFrames.TypedDelta simple = fastPath ? FastFrames.typedDelta(data, DELTAS.keySet()) : null;
    if (simple != null) {
      return delta(DELTAS.get(simple.type()), simple.delta());
    }
    JsonNode event = Frames.read(data.text());
    if (event == null) {
      done = true;
      return List.of();
    }
    String type = event.path("type").asText(eventType == null ? "" : eventType);
    Boolean reasoning = DELTAS.get(type);
    if (reasoning != null) {
      return delta(reasoning, event.path("delta").asText(""));
    }
    return switch (type) {
      case "response.output_item.added" -> itemAdded(event);
      case "response.function_call_arguments.delta" -> argumentsDelta(event);
      case "response.function_call_arguments.done" -> argumentsDone(event);
      case "response.output_item.done" -> itemDone(event);
      case "response.completed" -> terminal(event, null);
      case "response.incomplete" -> terminal(event, incompleteReason(event.path("response")));
      case "response.failed" -> throw new UpstreamException(ErrorClassifier.fromStreamError(
          event.path("response").path("error").isObject() ? event.path("response") : event));
      case "error" -> throw new UpstreamException(ErrorClassifier.fromStreamError(event));
      default -> List.of();
    };
  }

  @Override
  public List<ModelEvent> onEnd() {
    if (!terminal) {
      throw StreamParser.truncated(done
          ? "the Responses stream ended with [DONE] but no response.completed"
          : "the connection closed before the response was complete");
    }
    return List.of();
  }

  @Override
  public boolean finished() {
    return terminal || done;
  }

  private static List<ModelEvent> delta(boolean reasoning, String delta) {
    return delta.isEmpty() ? List.of() : List.of(reasoning ? new ReasoningDelta(delta) : new TextDelta(delta));
  }

  private List<ModelEvent> itemAdded(JsonNode event) {
    JsonNode item = event.path("item");
    if ("function_call".equals(item.path("type").asText())) {
      call(event, item.path("id").asText(null)).absorb(item);
    }
    return List.of();
  }

  private List<ModelEvent> argumentsDelta(JsonNode event) {
    call(event, event.path("item_id").asText(null)).arguments.append(event.path("delta").asText(""));
    return List.of();
  }

  private List<ModelEvent> argumentsDone(JsonNode event) {
    FunctionCallState call = call(event, event.path("item_id").asText(null));
    call.finalArguments = event.path("arguments").asText(null);
    if (event.hasNonNull("name")) {
      call.name = event.get("name").asText();
    }
    return List.of();
  }

  private List<ModelEvent> itemDone(JsonNode event) {
    JsonNode item = event.path("item");
    if (!"function_call".equals(item.path("type").asText())) {
      return List.of();
    }
    FunctionCallState call = call(event, item.path("id").asText(null));
    call.absorb(item);
    if (item.hasNonNull("arguments") && !item.get("arguments").asText().isEmpty()) {
      call.finalArguments = call.finalArguments != null ? call.finalArguments : item.get("arguments").asText();
    }
    return emit(call);
  }

  private List<ModelEvent> terminal(JsonNode event, FinishReason incomplete) {
    terminal = true;
    List<ModelEvent> out = new ArrayList<>();
    // Calls whose item never closed, or that only the final response lists (rule 7).
    for (FunctionCallState call : calls.values()) {
      out.addAll(emit(call));
    }
    for (JsonNode item : event.path("response").path("output")) {
      if ("function_call".equals(item.path("type").asText()) && !emittedCallIds.contains(item.path("call_id").asText())) {
        FunctionCallState call = new FunctionCallState();
        call.absorb(item);
        call.finalArguments = item.path("arguments").asText("");
        out.addAll(emit(call));
      }
    }
    JsonNode usage = event.path("response").path("usage");
    if (usage.isObject()) {
      out.add(new ModelEvent.Usage(usage.path("input_tokens").asLong(), usage.path("output_tokens").asLong(),
          usage.path("input_tokens_details").path("cached_tokens").asLong(),
          usage.path("output_tokens_details").path("reasoning_tokens").asLong()));
    }
    FinishReason reason = incomplete != null ? incomplete : emittedCallIds.isEmpty() ? FinishReason.STOP
        : FinishReason.TOOL_CALLS;
    out.add(new Completed(reason));
    return out;
  }

  private static FinishReason incompleteReason(JsonNode response) {
    return switch (response.path("incomplete_details").path("reason").asText("")) {
      case "max_output_tokens" -> FinishReason.LENGTH;
      case "content_filter" -> FinishReason.CONTENT_FILTER;
      default -> FinishReason.OTHER;
    };
  }

  private List<ModelEvent> emit(FunctionCallState call) {
    if (call.emitted) {
      return List.of();
    }
    call.emitted = true;
    String callId = call.callId != null ? call.callId : call.itemId;
    if (callId != null && !emittedCallIds.add(callId)) {
      return List.of();
    }
    String arguments = call.finalArguments != null ? call.finalArguments : call.arguments.toString();
    return List.of(new ToolCall(callId, call.name, arguments.isEmpty() ? "{}" : arguments));
  }

  /** The state of the function call an event belongs to, created on first sight. */
  private FunctionCallState call(JsonNode event, String itemId) {
    String key = event.has("output_index") ? "#" + event.get("output_index").asInt()
        : itemId != null ? keyByItemId.getOrDefault(itemId, "id:" + itemId)
        : "#order" + calls.size();
    if (itemId != null) {
      keyByItemId.putIfAbsent(itemId, key);
    }
    FunctionCallState call = calls.computeIfAbsent(key, k -> new FunctionCallState());
    if (call.itemId == null) {
      call.itemId = itemId;
    }
    return call;
  }

  private static final class FunctionCallState {
    final StringBuilder arguments = new StringBuilder();
    String itemId;
    String callId;
    String name;
    String finalArguments;
    boolean emitted;

    /** Takes what an item snapshot knows, without overwriting a known value with an empty one. */
    void absorb(JsonNode item) {
      if (!item.path("call_id").asText("").isEmpty()) {
        callId = item.get("call_id").asText();
      }
      if (!item.path("name").asText("").isEmpty()) {
        name = item.get("name").asText();
      }
      if (itemId == null && item.hasNonNull("id")) {
        itemId = item.get("id").asText();
      }
    }
  }
}
