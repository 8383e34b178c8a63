package dev.talon.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.testing.Script.Finish;
import dev.talon.testing.Script.ToolCall;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code POST /v1/responses}: the item/part/delta/done grammar of protocols.md §2.10, one item at a
 * time in {@code output_index} order (reasoning, message, function calls), ending in {@code
 * response.completed} (or {@code .incomplete}) whose {@code output} equals the {@code
 * output_item.done} items.
 */
final class ResponsesRenderer implements Renderer {
  private final Request request;
  private final Script script;
  private final String id = Json.id("resp_");
  private final long createdAt = Instant.now().getEpochSecond();
  private final String reasoningId = Json.id("rs_");
  private final String messageId = Json.id("msg_");
  private final List<String> callItemIds = new ArrayList<>();
  private final List<String> callIds = new ArrayList<>();

  ResponsesRenderer(Request request, Script script) {
    this.request = request;
    this.script = script;
    for (ToolCall ignored : script.toolCalls) {
      callItemIds.add(Json.id("fc_"));
      callIds.add(Json.id("call_"));
    }
  }

  @Override
  public List<SseEvent> events() {
    List<SseEvent> events = new ArrayList<>();
    events.add(lifecycle("response.created", response("in_progress", Json.array())));
    events.add(lifecycle("response.in_progress", response("in_progress", Json.array())));
    List<ObjectNode> items = outputItems();
    int index = 0;
    if (hasReasoning()) {
      streamReasoning(events, index, items.get(index));
      index++;
    }
    if (hasMessage()) {
      streamMessage(events, index, items.get(index));
      index++;
    }
    for (int call = 0; index < items.size(); index++, call++) {
      streamFunctionCall(events, index, call, items.get(index));
    }
    String terminal = incomplete() ? "response.incomplete" : "response.completed";
    events.add(lifecycle(terminal, finalResponse(items)));
    return events;
  }

  @Override
  public List<SseEvent> streamError(JsonNode errorBody) {
    JsonNode error = Renderer.errorObject(errorBody).deepCopy();
    ObjectNode errorEvent = typed("error");
    errorEvent.set("error", error); // nested, as recorded from OpenAI
    ObjectNode failed = response("failed", Json.array());
    String message = error.isTextual() ? error.asText() : error.path("message").asText();
    failed.putObject("error").put("code", failureCode(error)).put("message", message);
    return List.of(SseEvent.of(errorEvent), lifecycle("response.failed", failed));
  }

  @Override
  public JsonNode body() {
    return finalResponse(outputItems());
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
    return new EventStream.Defaults(false, true);
  }

  private boolean hasReasoning() {
    return !script.separateReasoningTokens().isEmpty();
  }

  private boolean hasMessage() {
    return !script.visibleTokens().isEmpty() || script.toolCalls.isEmpty();
  }

  private boolean incomplete() {
    return script.finishReason() == Finish.LENGTH || script.finishReason() == Finish.CONTENT_FILTER;
  }

  /** The finished items, as {@code output_item.done} and the final response carry them. */
  private List<ObjectNode> outputItems() {
    List<ObjectNode> items = new ArrayList<>();
    if (hasReasoning()) {
      ObjectNode item = reasoningItem();
      String text = String.join("", script.separateReasoningTokens());
      if (script.reasoningSummary) {
        item.withArrayProperty("summary").add(part("summary_text", text));
      } else {
        item.putArray("content").add(part("reasoning_text", text));
      }
      items.add(item);
    }
    if (hasMessage()) {
      ObjectNode item = messageItem("completed");
      item.withArrayProperty("content").add(outputText(String.join("", script.visibleTokens())));
      items.add(item);
    }
    for (int call = 0; call < script.toolCalls.size(); call++) {
      items.add(functionCallItem(call, "completed", script.toolCalls.get(call).arguments()));
    }
    if (incomplete()) {
      items.get(items.size() - 1).put("status", "incomplete"); // the cut item is the last one
    }
    return items;
  }

  private void streamReasoning(List<SseEvent> events, int index, ObjectNode done) {
    events.add(itemEvent("response.output_item.added", index, reasoningItem()));
    List<String> tokens = script.separateReasoningTokens();
    String text = String.join("", tokens);
    if (script.reasoningSummary) {
      String prefix = "response.reasoning_summary_";
      events.add(
          SseEvent.of(
              summaryEvent(prefix + "part.added", index).set("part", part("summary_text", ""))));
      for (String token : tokens) {
        events.add(SseEvent.token(summaryEvent(prefix + "text.delta", index).put("delta", token)));
      }
      events.add(SseEvent.of(summaryEvent(prefix + "text.done", index).put("text", text)));
      events.add(
          SseEvent.of(
              summaryEvent(prefix + "part.done", index).set("part", part("summary_text", text))));
    } else {
      streamPart(
          events,
          index,
          reasoningId,
          "response.reasoning_text",
          part("reasoning_text", ""),
          tokens);
    }
    events.add(itemEvent("response.output_item.done", index, done));
  }

  private void streamMessage(List<SseEvent> events, int index, ObjectNode done) {
    events.add(itemEvent("response.output_item.added", index, messageItem("in_progress")));
    streamPart(
        events, index, messageId, "response.output_text", outputText(""), script.visibleTokens());
    events.add(itemEvent("response.output_item.done", index, done));
  }

  /**
   * {@code content_part.added}, a {@code <prefix>.delta} per token, {@code <prefix>.done}, {@code
   * content_part.done}; output text carries (empty) logprobs on its deltas and done event.
   */
  private void streamPart(
      List<SseEvent> events,
      int index,
      String itemId,
      String prefix,
      ObjectNode emptyPart,
      List<String> tokens) {
    boolean logprobs = emptyPart.has("logprobs");
    String text = String.join("", tokens);
    ObjectNode added = contentEvent("response.content_part.added", itemId, index);
    events.add(SseEvent.of(added.set("part", emptyPart)));
    for (String token : tokens) {
      ObjectNode delta = contentEvent(prefix + ".delta", itemId, index).put("delta", token);
      events.add(SseEvent.token(logprobs ? delta.set("logprobs", Json.array()) : delta));
    }
    ObjectNode textDone = contentEvent(prefix + ".done", itemId, index).put("text", text);
    events.add(SseEvent.of(logprobs ? textDone.set("logprobs", Json.array()) : textDone));
    ObjectNode partDone = contentEvent("response.content_part.done", itemId, index);
    events.add(SseEvent.of(partDone.set("part", emptyPart.deepCopy().put("text", text))));
  }

  private void streamFunctionCall(List<SseEvent> events, int index, int call, ObjectNode done) {
    ToolCall toolCall = script.toolCalls.get(call);
    String itemId = callItemIds.get(call);
    events.add(
        itemEvent("response.output_item.added", index, functionCallItem(call, "in_progress", "")));
    for (String piece : script.argumentPieces(toolCall)) {
      ObjectNode delta = typed("response.function_call_arguments.delta").put("item_id", itemId);
      events.add(SseEvent.token(delta.put("output_index", index).put("delta", piece)));
    }
    ObjectNode argumentsDone =
        typed("response.function_call_arguments.done").put("item_id", itemId);
    argumentsDone.put("output_index", index).put("arguments", toolCall.arguments());
    events.add(SseEvent.of(argumentsDone.put("name", toolCall.name())));
    events.add(itemEvent("response.output_item.done", index, done));
  }

  private ObjectNode reasoningItem() {
    ObjectNode item = Json.object().put("id", reasoningId).put("type", "reasoning");
    item.putArray("summary");
    return item;
  }

  private ObjectNode messageItem(String status) {
    ObjectNode item = Json.object().put("id", messageId).put("type", "message");
    item.put("status", status).put("role", "assistant").putArray("content");
    return item;
  }

  private ObjectNode functionCallItem(int call, String status, String arguments) {
    return Json.object()
        .put("id", callItemIds.get(call))
        .put("type", "function_call")
        .put("status", status)
        .put("arguments", arguments)
        .put("call_id", callIds.get(call))
        .put("name", script.toolCalls.get(call).name());
  }

  private static ObjectNode part(String type, String text) {
    return typed(type).put("text", text);
  }

  private static ObjectNode outputText(String text) {
    ObjectNode part = part("output_text", text);
    part.putArray("annotations");
    part.putArray("logprobs");
    return part;
  }

  private ObjectNode finalResponse(List<ObjectNode> items) {
    ArrayNode output = Json.array();
    items.forEach(output::add);
    ObjectNode response = response(incomplete() ? "incomplete" : "completed", output);
    if (incomplete()) {
      String reason =
          script.finishReason() == Finish.LENGTH ? "max_output_tokens" : "content_filter";
      response.putObject("incomplete_details").put("reason", reason);
    }
    Script.Usage usage = script.usageFor(request);
    ObjectNode usageNode = response.putObject("usage").put("input_tokens", usage.inputTokens());
    usageNode.putObject("input_tokens_details").put("cached_tokens", 0);
    usageNode.put("output_tokens", usage.outputTokens());
    usageNode
        .putObject("output_tokens_details")
        .put("reasoning_tokens", script.reasoningTokens.size());
    usageNode.put("total_tokens", usage.inputTokens() + usage.outputTokens());
    return response;
  }

  /** The snapshot every lifecycle event carries; request fields are echoed as OpenAI does. */
  private ObjectNode response(String status, ArrayNode output) {
    ObjectNode response = Json.object().put("id", id).put("object", "response");
    response.put("created_at", createdAt).put("status", status);
    response.putNull("error");
    response.putNull("incomplete_details");
    response.set("instructions", echo("instructions", null));
    response.set("max_output_tokens", echo("max_output_tokens", null));
    response.put("model", request.model());
    response.set("output", output);
    response.put("parallel_tool_calls", request.body().path("parallel_tool_calls").asBoolean(true));
    response.set("previous_response_id", echo("previous_response_id", null));
    response.set("tool_choice", echo("tool_choice", Json.MAPPER.getNodeFactory().textNode("auto")));
    response.set("tools", echo("tools", Json.array()));
    response.putNull("usage");
    response.putObject("metadata");
    return response;
  }

  /** The request's field, or the fallback (null renders as JSON null). */
  private JsonNode echo(String field, JsonNode fallback) {
    JsonNode value = request.body().get(field);
    return value == null ? fallback : value.deepCopy();
  }

  private static String failureCode(JsonNode error) {
    JsonNode code = error.path("code");
    if (code.isValueNode() && !code.isNull()) {
      return code.asText();
    }
    return error.path("type").asText("server_error");
  }

  private static ObjectNode typed(String type) {
    return Json.object().put("type", type);
  }

  private static SseEvent lifecycle(String type, ObjectNode response) {
    return SseEvent.of(typed(type).set("response", response));
  }

  private static SseEvent itemEvent(String type, int index, ObjectNode item) {
    return SseEvent.of(typed(type).put("output_index", index).set("item", item.deepCopy()));
  }

  private static ObjectNode contentEvent(String type, String itemId, int index) {
    return typed(type).put("item_id", itemId).put("output_index", index).put("content_index", 0);
  }

  private ObjectNode summaryEvent(String type, int index) {
    return typed(type)
        .put("item_id", reasoningId)
        .put("output_index", index)
        .put("summary_index", 0);
  }
}
