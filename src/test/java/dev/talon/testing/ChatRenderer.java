package dev.talon.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.testing.Script.ArgumentDeltas;
import dev.talon.testing.Script.ReasoningChannel;
import dev.talon.testing.Script.ToolCall;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/** {@code POST /v1/chat/completions}: {@code chat.completion.chunk} deltas (protocols.md §3). */
final class ChatRenderer implements Renderer {
  private final Request request;
  private final Script script;
  private final String id = Json.id("chatcmpl-");
  private final long created = Instant.now().getEpochSecond();
  private final List<String> callIds = new ArrayList<>();
  private final boolean includeUsage;

  ChatRenderer(Request request, Script script) {
    this.request = request;
    this.script = script;
    script.toolCalls.forEach(call -> callIds.add(Json.id("call_")));
    this.includeUsage =
        request.body().path("stream_options").path("include_usage").asBoolean(false);
  }

  @Override
  public List<SseEvent> events() {
    List<SseEvent> events = new ArrayList<>();
    ObjectNode role = delta().put("role", "assistant").put("content", "");
    events.add(SseEvent.unnamed(chunk(role, null), false));
    for (String token : script.separateReasoningTokens()) {
      events.add(SseEvent.unnamed(chunk(delta().put(reasoningField(), token), null), true));
    }
    for (String token : script.visibleTokens()) {
      events.add(SseEvent.unnamed(chunk(delta().put("content", token), null), true));
    }
    for (int i = 0; i < script.toolCalls.size(); i++) {
      ToolCall call = script.toolCalls.get(i);
      int index = script.toolIndexBase + i;
      // The first fragment names the call; without deltas it carries the whole call.
      String firstArguments = script.argumentDeltas == ArgumentDeltas.NONE ? call.arguments() : "";
      ObjectNode first = toolFragment(index, callIds.get(i), call.name(), firstArguments);
      events.add(SseEvent.unnamed(chunk(toolDelta(first), null), true));
      for (String piece : script.argumentPieces(call)) {
        ObjectNode next = toolFragment(index, null, null, piece);
        events.add(SseEvent.unnamed(chunk(toolDelta(next), null), true));
      }
    }
    events.add(SseEvent.unnamed(chunk(delta(), finishReason()), false));
    if (includeUsage) {
      ObjectNode usageChunk = header("chat.completion.chunk");
      usageChunk.putArray("choices");
      events.add(SseEvent.unnamed(usageChunk.set("usage", usage()), false));
    }
    return events;
  }

  @Override
  public List<SseEvent> streamError(JsonNode errorBody) {
    return List.of(SseEvent.unnamed(errorBody.deepCopy(), false));
  }

  @Override
  public JsonNode body() {
    ObjectNode message = Json.object().put("role", "assistant");
    String text = String.join("", script.visibleTokens());
    message.put("content", text.isEmpty() && !script.toolCalls.isEmpty() ? null : text);
    List<String> reasoning = script.separateReasoningTokens();
    if (!reasoning.isEmpty()) {
      message.put(reasoningField(), String.join("", reasoning));
    }
    if (!script.toolCalls.isEmpty()) {
      ArrayNode calls = message.putArray("tool_calls");
      for (int i = 0; i < script.toolCalls.size(); i++) {
        ToolCall call = script.toolCalls.get(i);
        ObjectNode entry = calls.addObject().put("id", callIds.get(i)).put("type", "function");
        entry.putObject("function").put("name", call.name()).put("arguments", call.arguments());
      }
    }
    ObjectNode completion = header("chat.completion");
    ObjectNode choice = completion.putArray("choices").addObject().put("index", 0);
    choice.set("message", message);
    choice.putNull("logprobs");
    choice.put("finish_reason", finishReason());
    completion.set("usage", usage());
    return completion;
  }

  @Override
  public JsonNode defaultError() {
    return ErrorBodies.openAiServerError();
  }

  @Override
  public ServerKind server() {
    return ServerKind.OPENAI;
  }

  @Override
  public EventStream.Defaults framing() {
    return new EventStream.Defaults(true, false);
  }

  private String reasoningField() {
    return script.reasoningChannel == ReasoningChannel.REASONING
        ? "reasoning"
        : "reasoning_content";
  }

  private String finishReason() {
    return script.finishReason().name().toLowerCase();
  }

  private ObjectNode header(String object) {
    return Json.object()
        .put("id", id)
        .put("object", object)
        .put("created", created)
        .put("model", request.model());
  }

  private ObjectNode chunk(ObjectNode delta, String finishReason) {
    ObjectNode chunk = header("chat.completion.chunk");
    ObjectNode choice = chunk.putArray("choices").addObject().put("index", 0);
    choice.set("delta", delta);
    choice.putNull("logprobs");
    choice.put("finish_reason", finishReason);
    if (includeUsage) {
      chunk.putNull("usage"); // OpenAI sends an explicit null on every chunk before the usage chunk
    }
    return chunk;
  }

  private static ObjectNode delta() {
    return Json.object();
  }

  /** Continuation fragments carry neither id nor name. */
  private static ObjectNode toolFragment(int index, String id, String name, String arguments) {
    ObjectNode fragment = Json.object().put("index", index);
    if (id != null) {
      fragment.put("id", id).put("type", "function");
    }
    ObjectNode function = fragment.putObject("function");
    if (name != null) {
      function.put("name", name);
    }
    function.put("arguments", arguments);
    return fragment;
  }

  private static ObjectNode toolDelta(ObjectNode fragment) {
    ObjectNode delta = delta();
    delta.putArray("tool_calls").add(fragment);
    return delta;
  }

  private ObjectNode usage() {
    Script.Usage usage = script.usageFor(request);
    ObjectNode node =
        Json.object()
            .put("prompt_tokens", usage.inputTokens())
            .put("completion_tokens", usage.outputTokens())
            .put("total_tokens", usage.inputTokens() + usage.outputTokens());
    node.putObject("prompt_tokens_details").put("cached_tokens", 0);
    node.putObject("completion_tokens_details")
        .put("reasoning_tokens", script.reasoningTokens.size());
    return node;
  }
}
