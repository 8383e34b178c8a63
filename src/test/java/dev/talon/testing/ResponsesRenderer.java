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
 * time in {@code output_index} order, ending in {@code response.completed} (or {@code
 * .incomplete}) whose {@code output} equals the {@code output_item.done} items.
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
    ObjectNode terminal = finalResponse(items);
    String type = terminal.get("status").asText().equals("completed") ? "response.completed" : "response.incomplete";
    events.add(lifecycle(type, terminal));
    return events;
  }

  @Override
  public List<SseEvent> streamError(JsonNode errorBody) {
    JsonNode error = Renderer.errorObject(errorBody).deepCopy();
    ObjectNode errorEvent = Json.object().put("type", "error");
    errorEvent.set("error", error);
    ObjectNode failed = response("failed", Json.array());
    failed.putObject("error").put("code", failureCode(error)).put("message", error.isTextual() ? error.asText() : error.path("message").asText());
    return List.of(SseEvent.event("error", errorEvent), lifecycle("response.failed", failed));
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

  /** The finished items, as {@code output_item.done} and the final response carry them. */
  private List<ObjectNode> outputItems() {
    List<ObjectNode> items = new ArrayList<>();
    if (hasReasoning()) {
      ObjectNode item = Json.object().put("id", reasoningId).put("type", "reasoning");
      String text = String.join("", script.separateReasoningTokens());
      if (script.reasoningSummary) {
        item.putArray("summary").addObject().put("type", "summary_text").put("text", text);
      } else {
        item.putArray("summary");
        item.putArray("content").addObject().put("type", "reasoning_text").put("text", text);
      }
      items.add(item);
    }
    if (hasMessage()) {
      ObjectNode item = messageItem("completed");
      item.withArray("content").add(outputText(String.join("", script.visibleTokens())));
      items.add(item);
    }
    for (int i = 0; i < script.toolCalls.size(); i++) {
      items.add(functionCallItem(i, "completed", script.toolCalls.get(i).arguments()));
    }
    if (script.finishReason() == Finish.LENGTH || script.finishReason() == Finish.CONTENT_FILTER) {
      items.get(items.size() - 1).put("status", "incomplete"); // a cut answer's last item is incomplete
    }
    return items;
  }

  private void streamReasoning(List<SseEvent> events, int index, ObjectNode done) {
    ObjectNode added = Json.object().put("id", reasoningId).put("type", "reasoning");
    added.putArray("summary");
    events.add(itemEvent("response.output_item.added", index, added));
    String text = String.join("", script.separateReasoningTokens());
    if (script.reasoningSummary) {
      ObjectNode emptyPart = Json.object().put("type", "summary_text").put("text", "");
      events.add(SseEvent.event("response.reasoning_summary_part.added", summaryPart("response.reasoning_summary_part.added", index).set("part", emptyPart)));
      for (String token : script.separateReasoningTokens()) {
        events.add(SseEvent.token("response.reasoning_summary_text.delta", summaryPart("response.reasoning_summary_text.delta", index).put("delta", token)));
      }
      events.add(SseEvent.event("response.reasoning_summary_text.done", summaryPart("response.reasoning_summary_text.done", index).put("text", text)));
      ObjectNode part = Json.object().put("type", "summary_text").put("text", text);
      events.add(SseEvent.event("response.reasoning_summary_part.done", summaryPart("response.reasoning_summary_part.done", index).set("part", part)));
    } else {
      streamPart(events, index, reasoningId, "response.reasoning_text", Json.object().put("type", "reasoning_text"), script.separateReasoningTokens());
    }
    events.add(itemEvent("response.output_item.done", index, done));
  }

  private void streamMessage(List<SseEvent> events, int index, ObjectNode done) {
    events.add(itemEvent("response.output_item.added", index, messageItem("in_progress")));
    streamPart(events, index, messageId, "response.output_text", outputText(null), script.visibleTokens());
    events.add(itemEvent("response.output_item.done", index, done));
  }

  /** content_part.added, one {@code <prefix>.delta} per token, {@code <prefix>.done}, content_part.done. */
  private void streamPart(List<SseEvent> events, int index, String itemId, String prefix, ObjectNode part, List<String> tokens) {
    boolean outputText = prefix.equals("response.output_text");
    String text = String.join("", tokens);
    events.add(SseEvent.event("response.content_part.added", contentEvent("response.content_part.added", itemId, index).set("part", part.deepCopy().put("text", ""))));
    for (String token : tokens) {
      ObjectNode delta = contentEvent(prefix + ".delta", itemId, index).put("delta", token);
      if (outputText) {
        delta.putArray("logprobs");
      }
      events.add(SseEvent.token(prefix + ".delta", delta));
    }
    ObjectNode textDone = contentEvent(prefix + ".done", itemId, index).put("text", text);
    if (outputText) {
      textDone.putArray("logprobs");
    }
    events.add(SseEvent.event(prefix + ".done", textDone));
    events.add(SseEvent.event("response.content_part.done", contentEvent("response.content_part.done", itemId, index).set("part", part.deepCopy().put("text", text))));
  }

  private void streamFunctionCall(List<SseEvent> events, int index, int call, ObjectNode done) {
    ToolCall toolCall = script.toolCalls.get(call);
    String itemId = callItemIds.get(call);
    events.add(itemEvent("response.output_item.added", index, functionCallItem(call, "in_progress", "")));
    for (String piece : script.argumentPieces(toolCall)) {
      String type = "response.function_call_arguments.delta";
      events.add(SseEvent.token(type, typed(type).put("item_id", itemId).put("output_index", index).put("delta", piece)));
    }
    String type = "response.function_call_arguments.done";
    ObjectNode argumentsDone = typed(type).put("item_id", itemId).put("output_index", index);
    events.add(SseEvent.event(type, argumentsDone.put("arguments", toolCall.arguments()).put("name", toolCall.name())));
    events.add(itemEvent("response.output_item.done", index, done));
  }

  private ObjectNode messageItem(String status) {
    ObjectNode item = Json.object().put("id", messageId).put("type", "message").put("status", status).put("role", "assistant");
    item.putArray("content");
    return item;
  }

  private ObjectNode functionCallItem(int call, String status, String arguments) {
    ToolCall toolCall = script.toolCalls.get(call);
    return Json.object()
        .put("id", callItemIds.get(call))
        .put("type", "function_call")
        .put("status", status)
        .put("arguments", arguments)
        .put("call_id", callIds.get(call))
        .put("name", toolCall.name());
  }

  private static ObjectNode outputText(String text) {
    ObjectNode part = Json.object().put("type", "output_text");
    if (text != null) {
      part.put("text", text);
    }
    part.putArray("annotations");
    part.putArray("logprobs");
    return part;
  }

  private ObjectNode finalResponse(List<ObjectNode> items) {
    ArrayNode output = Json.array();
    items.forEach(output::add);
    Finish finish = script.finishReason();
    boolean cut = finish == Finish.LENGTH || finish == Finish.CONTENT_FILTER;
    ObjectNode response = response(cut ? "incomplete" : "completed", output);
    if (cut) {
      response.putObject("incomplete_details").put("reason", finish == Finish.LENGTH ? "max_output_tokens" : "content_filter");
    }
    Script.Usage usage = script.usageFor(request);
    ObjectNode usageNode = response.putObject("usage").put("input_tokens", usage.inputTokens());
    usageNode.putObject("input_tokens_details").put("cached_tokens", 0);
    usageNode.put("output_tokens", usage.outputTokens());
    usageNode.putObject("output_tokens_details").put("reasoning_tokens", script.reasoningTokens.size());
    usageNode.put("total_tokens", usage.inputTokens() + usage.outputTokens());
    return response;
  }

  /** The response snapshot every lifecycle event carries; request fields are echoed like OpenAI does. */
  private ObjectNode response(String status, ArrayNode output) {
    ObjectNode response = Json.object().put("id", id).put("object", "response").put("created_at", createdAt).put("status", status);
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
    ObjectNode event = typed(type);
    event.set("response", response);
    return SseEvent.event(type, event);
  }

  private static SseEvent itemEvent(String type, int index, ObjectNode item) {
    ObjectNode event = typed(type).put("output_index", index);
    event.set("item", item.deepCopy());
    return SseEvent.event(type, event);
  }

  private static ObjectNode contentEvent(String type, String itemId, int index) {
    return typed(type).put("item_id", itemId).put("output_index", index).put("content_index", 0);
  }

  private ObjectNode summaryPart(String type, int index) {
    return typed(type).put("item_id", reasoningId).put("output_index", index).put("summary_index", 0);
  }
}
