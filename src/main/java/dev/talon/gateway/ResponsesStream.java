package dev.talon.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.conversation.Attempt;
import dev.talon.conversation.ConversationEntity;
import dev.talon.conversation.OutputItem;
import dev.talon.conversation.OutputItem.McpCall;
import dev.talon.conversation.TokenUsage;
import dev.talon.conversation.TurnEvent;
import dev.talon.conversation.TurnResult;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;
import org.apache.pekko.util.ByteString;

/**
 * One turn as the Responses API tells it: turn events in, the event grammar of
 * {@code protocols.md} §2.10 out, each event with its {@code sequence_number}. The same events
 * always give the same stream, which is what lets a reconnecting client resume after
 * {@code starting_after}.
 *
 * <p>A model switch that continues the answer changes nothing in the stream: the open item goes
 * on. One that discards the output ends the open item as {@code incomplete}; the next model's
 * items follow, and the final response holds only those (what the conversation keeps). The
 * response's {@code talon} object names the requested model, every model tried, each switch and
 * each compaction. A compaction ahead of a call shows as {@code talon.compaction.started} and
 * {@code talon.compaction.completed} events, which clients that do not know them skip.
 *
 * <p>The MCP tools of an agent that acts show as OpenAI's hosted MCP tool shows them: an
 * {@code mcp_list_tools} item per server, then an {@code mcp_call} item per call, with the tool's
 * result, before the text that the model wrote with it. A call that waits for a person is a
 * {@code talon.approval_required} event, which says where to answer it. A turn of several model
 * calls is one response: a switch that discards output voids only the current call's items.
 */
final class ResponsesStream {
  private static final String SEQUENCE = "sequence_number";

  /** One SSE event, written when it is sent. */
  sealed interface Frame {
    /** Its {@code sequence_number}: a resuming client skips the events up to its last one. */
    int sequence();

    ByteString sse();
  }

  /** An event written from its JSON, which {@link #finalResponse} reads the response object from. */
  record JsonFrame(String type, ObjectNode data) implements Frame {
    @Override
    public int sequence() {
      return data.get(SEQUENCE).intValue();
    }

    @Override
    public ByteString sse() {
      return Sse.bytes(type, data);
    }
  }

  /** A text delta, filled into its item's template. */
  record DeltaFrame(SseTemplate template, String text, int sequence) implements Frame {
    @Override
    public ByteString sse() {
      return template.fill(text, sequence);
    }
  }

  /**
   * What a response echoes besides its output.
   *
   * @param request the request body, whose options the response repeats (an empty object when
   *     the response is read back from the transcript)
   */
  record Shape(String id, String sessionKey, long createdAt, String requestedModel, ObjectNode request,
      boolean includeReasoning) {}

  /** An MCP call's item, added and not yet done. */
  private record OpenCall(McpCall call, ObjectNode item, int index) {}

  private enum Kind { MESSAGE, REASONING }

  private final Shape shape;
  /** The response's items by output index: parallel MCP calls may end in another order than they began. */
  private final SortedMap<Integer, ObjectNode> finalItems = new TreeMap<>();
  private final Map<String, OpenCall> runningCalls = new LinkedHashMap<>();
  /** The calls that waited for a person: their items name the request they answered. */
  private final Set<String> approvalRequested = new HashSet<>();
  /** The first output index of the current model call: a switch that discards output voids from here. */
  private int modelCallStart;
  /**
   * The MCP listings so far. Answer items are numbered without them: the journal keeps no listing,
   * so a response read back from it names its items as the live stream did.
   */
  private int listings;
  private final ArrayNode switches = Json.array();
  private final ArrayNode compactions = Json.array();
  private int sequence;
  private int nextOutputIndex;
  private String model;
  private Kind openKind;
  private ObjectNode openItem;
  private int openIndex;
  private SseTemplate openDelta;
  private final StringBuilder openText = new StringBuilder();

  ResponsesStream(Shape shape) {
    this.shape = shape;
  }

  List<Frame> on(TurnEvent event) {
    List<Frame> out = new ArrayList<>();
    if (event instanceof TurnEvent.Started started) {
      model = started.model();
      out.add(frame("response.created", "response", snapshot("in_progress", Json.array(), null, null, null)));
      out.add(frame("response.in_progress", "response", snapshot("in_progress", Json.array(), null, null, null)));
    } else if (event instanceof TurnEvent.TextDelta text) {
      delta(Kind.MESSAGE, text.text(), out);
    } else if (event instanceof TurnEvent.ReasoningDelta reasoning) {
      if (shape.includeReasoning()) {
        delta(Kind.REASONING, reasoning.text(), out);
      }
    } else if (event instanceof TurnEvent.ToolCall call) {
      functionCall(call, out);
    } else if (event instanceof TurnEvent.ToolsListed listed) {
      toolsListed(listed, out);
    } else if (event instanceof TurnEvent.ApprovalRequired approval) {
      approvalRequested.add(approval.call().callId());
      out.add(frame(Json.object().put("type", "talon.approval_required")
          .setAll(McpJson.approvalRequired(shape.id(), approval.call()))));
    } else if (event instanceof TurnEvent.ToolCallStarted started) {
      mcpCallStarted(started.call(), out);
    } else if (event instanceof TurnEvent.ToolCallFinished finished) {
      mcpCallFinished(finished.call(), out);
    } else if (event instanceof TurnEvent.ModelSwitched switched) {
      if (switched.discardOutput()) {
        closeOpenItem("incomplete", out);
        finalItems.tailMap(modelCallStart).clear();
      }
      model = switched.toModel();
      switches.add(Json.object().put("from", switched.fromModel()).put("to", switched.toModel())
          .put("reason", switched.reason()).put("discard_output", switched.discardOutput()));
    } else if (event instanceof TurnEvent.CompactionStarted started) {
      out.add(frame(CompactionJson.started(started).put("type", CompactionJson.STARTED)));
    } else if (event instanceof TurnEvent.Compacted compacted) {
      ObjectNode done = CompactionJson.completed(compacted.compaction());
      compactions.add(done.deepCopy());
      out.add(frame(done.put("type", CompactionJson.COMPLETED)));
    } else if (event instanceof TurnEvent.Completed completed) {
      completed(completed.result(), out);
    } else if (event instanceof TurnEvent.Failed failed) {
      closeOpenItem("incomplete", out);
      // the turn stopped under its running calls: they may have taken effect, and are never run again
      List.copyOf(runningCalls.values()).forEach(open -> mcpCallFinished(
          open.call().with(McpCall.Status.INTERRUPTED, McpCall.INTERRUPTED_OUTPUT, 0), out));
      failed(failed, out);
    }
    if (event instanceof TurnEvent.ToolsListed || event instanceof TurnEvent.ToolCallFinished) {
      modelCallStart = nextOutputIndex; // the next model call, if there is one, writes after the tools' items
    }
    return out;
  }

  /** The response of a finished turn, as {@code GET /v1/responses/{id}} and non-streamed calls return it. */
  ObjectNode finalResponse(List<TurnEvent> events) {
    ObjectNode last = null;
    for (TurnEvent event : events) {
      for (Frame frame : on(event)) {
        if (frame instanceof JsonFrame json && json.data().has("response")) {
          last = (ObjectNode) json.data().get("response");
        }
      }
    }
    return last;
  }

  // ---- items --------------------------------------------------------------------------------

  private void delta(Kind kind, String text, List<Frame> out) {
    if (openKind != kind) {
      closeOpenItem("completed", out);
      open(kind, out);
    }
    openText.append(text);
    out.add(new DeltaFrame(openDelta, text, sequence++));
  }

  /** The open item's delta event, with the placeholders of its text and sequence number. */
  private SseTemplate deltaTemplate() {
    String type = openKind == Kind.MESSAGE ? "response.output_text.delta" : "response.reasoning_text.delta";
    ObjectNode delta = itemEvent(type).put("content_index", 0).put("delta", SseTemplate.TEXT);
    if (openKind == Kind.MESSAGE) {
      delta.set("logprobs", Json.array());
    }
    return new SseTemplate(Sse.text(type, delta.put(SEQUENCE, SseTemplate.NUMBER)));
  }

  private void open(Kind kind, List<Frame> out) {
    openKind = kind;
    openIndex = nextOutputIndex++;
    openText.setLength(0);
    openItem = kind == Kind.MESSAGE
        ? Json.object().put("id", answerItemId("msg", openIndex)).put("type", "message")
            .put("status", "in_progress").put("role", "assistant")
        : Json.object().put("id", answerItemId("rs", openIndex)).put("type", "reasoning").put("status", "in_progress");
    if (kind == Kind.REASONING) {
      openItem.set("summary", Json.array());
    }
    openItem.set("content", Json.array());
    openDelta = deltaTemplate();
    added(openItem, openIndex, out);
    out.add(frame(itemEvent("response.content_part.added").put("content_index", 0).set("part", part(""))));
  }

  private void closeOpenItem(String status, List<Frame> out) {
    if (openKind == null) {
      return;
    }
    String text = openText.toString();
    ObjectNode done = itemEvent(openKind == Kind.MESSAGE ? "response.output_text.done" : "response.reasoning_text.done")
        .put("content_index", 0).put("text", text);
    if (openKind == Kind.MESSAGE) {
      done.set("logprobs", Json.array());
    }
    out.add(frame(done));
    out.add(frame(itemEvent("response.content_part.done").put("content_index", 0).set("part", part(text))));
    openItem.put("status", status);
    openItem.withArray("content").add(part(text));
    itemDone(openItem, openIndex, out);
    openKind = null;
  }

  private void functionCall(TurnEvent.ToolCall call, List<Frame> out) {
    closeOpenItem("completed", out);
    int index = nextOutputIndex++;
    String itemId = answerItemId("fc", index);
    ObjectNode item = Json.object().put("id", itemId).put("type", "function_call").put("status", "in_progress")
        .put("call_id", call.callId()).put("name", call.name()).put("arguments", "");
    added(item, index, out);
    out.add(frame(itemEvent("response.function_call_arguments.delta", itemId, index).put("delta", call.arguments())));
    out.add(frame(itemEvent("response.function_call_arguments.done", itemId, index).put("arguments", call.arguments())
        .put("name", call.name())));
    item.put("status", "completed").put("arguments", call.arguments());
    itemDone(item, index, out);
  }

  /** The tools one MCP server lists for the turn, as an item that is added and done at once. */
  private void toolsListed(TurnEvent.ToolsListed listed, List<Frame> out) {
    int index = nextOutputIndex++;
    String itemId = itemId("mcpl", listings++);
    ObjectNode item = Json.object().put("id", itemId).put("type", "mcp_list_tools").setAll(McpJson.listing(listed));
    ObjectNode listing = item.deepCopy();
    listing.set("tools", Json.array());
    listing.putNull("error");
    added(listing, index, out);
    out.add(frame(itemEvent("response.mcp_list_tools.in_progress", itemId, index)));
    out.add(frame(itemEvent(listed.error() == null ? "response.mcp_list_tools.completed"
        : "response.mcp_list_tools.failed", itemId, index)));
    itemDone(item, index, out);
  }

  /** A call that runs now, or one refused before it ran, whose item ends right after. */
  private void mcpCallStarted(McpCall call, List<Frame> out) {
    closeOpenItem("completed", out);
    int index = nextOutputIndex++;
    // Added without arguments, which the delta brings: SDKs append deltas to what the item holds.
    ObjectNode item = mcpCallItem(call, "");
    String itemId = item.get("id").textValue();
    added(item, index, out);
    out.add(frame(itemEvent("response.mcp_call_arguments.delta", itemId, index).put("delta", call.arguments())));
    out.add(frame(itemEvent("response.mcp_call_arguments.done", itemId, index).put("arguments", call.arguments())));
    item.put("arguments", call.arguments());
    if (call.status() == McpCall.Status.RUNNING) {
      out.add(frame(itemEvent("response.mcp_call.in_progress", itemId, index)));
    }
    runningCalls.put(call.callId(), new OpenCall(call, item, index));
  }

  private void mcpCallFinished(McpCall call, List<Frame> out) {
    if (!runningCalls.containsKey(call.callId())) {
      mcpCallStarted(call, out); // refused: it never started, so its item is added and done in one go
    }
    OpenCall open = runningCalls.remove(call.callId());
    String itemId = open.item().get("id").textValue();
    out.add(frame(itemEvent(call.status() == McpCall.Status.COMPLETED ? "response.mcp_call.completed"
        : "response.mcp_call.failed", itemId, open.index())));
    itemDone(ended(open.item(), call), open.index(), out);
  }

  /**
   * A call's item before it ends: no output or error yet. Its id is made from the call's, not its
   * position: calls are shown as they start or end, while the journal keeps them in the order the
   * model asked for them, so a response read back from it may list them in another order.
   */
  private ObjectNode mcpCallItem(McpCall call, String arguments) {
    ObjectNode item = Json.object().put("id", itemId("mcp", call.callId())).put("type", "mcp_call")
        .put("server_label", call.server()).put("name", call.tool()).put("arguments", arguments)
        .put("approval_request_id", approvalRequested.contains(call.callId()) ? call.callId() : null);
    item.putNull("output");
    item.putNull("error");
    return item.put("status", "in_progress");
  }

  /**
   * The item of a call that ended: its output, or, for a call that failed, was refused or was
   * cut off, an error whose text is what the model was told. The SDKs read {@code error} as a
   * union of objects told apart by {@code type} (openai-java 4.x: {@code McpToolCallError}, which
   * makes no sense of a bare string); its protocol and HTTP variants need a numeric code that
   * Talon's outcomes do not have, while a tool execution error holds MCP content parts.
   */
  private static ObjectNode ended(ObjectNode item, McpCall call) {
    if (call.status() == McpCall.Status.COMPLETED) {
      return item.put("output", call.output()).put("status", "completed");
    }
    ObjectNode error = Json.object().put("type", "mcp_tool_execution_error");
    error.putArray("content").addObject().put("type", "text").put("text", call.output());
    item.set("error", error);
    return item.put("status", call.status() == McpCall.Status.INTERRUPTED ? "incomplete" : "failed");
  }

  private void added(ObjectNode item, int index, List<Frame> out) {
    out.add(frame(Json.object().put("type", "response.output_item.added").put("output_index", index)
        .set("item", item.deepCopy())));
  }

  private void itemDone(ObjectNode item, int index, List<Frame> out) {
    out.add(frame(Json.object().put("type", "response.output_item.done").put("output_index", index)
        .set("item", item.deepCopy())));
    if (!"reasoning".equals(item.get("type").textValue()) || shape.includeReasoning()) {
      finalItems.put(index, item);
    }
  }

  private ObjectNode part(String text) {
    if (openKind == Kind.REASONING) {
      return Json.object().put("type", "reasoning_text").put("text", text);
    }
    ObjectNode part = Json.object().put("type", "output_text").put("text", text);
    part.set("annotations", Json.array());
    part.set("logprobs", Json.array());
    return part;
  }

  private ObjectNode itemEvent(String type) {
    return itemEvent(type, openItem.get("id").textValue(), openIndex);
  }

  private static ObjectNode itemEvent(String type, String itemId, int index) {
    return Json.object().put("type", type).put("item_id", itemId).put("output_index", index);
  }

  /** The id of the answer's item at {@code index}, counted without the listings before it. */
  private String answerItemId(String prefix, int index) {
    return itemId(prefix, index - listings);
  }

  /** Item ids are stable for a given turn and position (or call), so a replayed stream repeats them. */
  private String itemId(String prefix, Object position) {
    return prefix + "_" + shape.id().substring("resp_".length(), "resp_".length() + 32) + "_" + position;
  }

  // ---- the end ------------------------------------------------------------------------------

  private void completed(TurnResult result, List<Frame> out) {
    boolean truncated = "length".equals(result.finishReason()) || "content_filter".equals(result.finishReason());
    closeOpenItem(truncated ? "incomplete" : "completed", out);
    model = result.model();
    ArrayNode output = Json.array();
    if (finalItems.isEmpty()) {
      // Read back from the transcript or subscribed late: the stored answer is the output.
      result.output().forEach(item -> output.add(storedItem(item, output.size())));
    } else {
      finalItems.values().forEach(output::add);
    }
    ObjectNode incomplete = truncated ? Json.object().put("reason",
        "length".equals(result.finishReason()) ? "max_output_tokens" : "content_filter") : null;
    ObjectNode response = snapshot(truncated ? "incomplete" : "completed", output, usage(result.usage()), null,
        incomplete);
    talon(response).set("models_tried", modelsTried(result.attempts()));
    talon(response).put("cost_usd", result.costUsd());
    out.add(frame(truncated ? "response.incomplete" : "response.completed", "response", response));
  }

  private void failed(TurnEvent.Failed failed, List<Frame> out) {
    boolean cancelled = ConversationEntity.CANCELLED.equals(failed.kind());
    ObjectNode error = Json.object().put("code", ApiError.errorCode(failed.kind())).put("message", failed.reason());
    if (!cancelled) {
      out.add(frame(Json.object().put("type", "error").set("error", Json.object().put("type", "server_error")
          .put("code", error.get("code").textValue()).put("message", failed.reason()).putNull("param"))));
    }
    ObjectNode response = snapshot(cancelled ? "cancelled" : "failed", Json.array(), null, error, null);
    talon(response).set("models_tried", modelsTried(failed.attempts()));
    out.add(frame("response.failed", "response", response));
  }

  private ObjectNode storedItem(OutputItem item, int index) {
    if (item instanceof OutputItem.FunctionCall call) {
      return Json.object().put("id", itemId("fc", index)).put("type", "function_call").put("status", "completed")
          .put("call_id", call.callId()).put("name", call.name()).put("arguments", call.arguments());
    }
    if (item instanceof McpCall call) {
      return ended(mcpCallItem(call, call.arguments()), call);
    }
    ObjectNode message = Json.object().put("id", itemId("msg", index)).put("type", "message").put("status", "completed")
        .put("role", "assistant");
    ObjectNode part = Json.object().put("type", "output_text").put("text", ((OutputItem.Text) item).text());
    part.set("annotations", Json.array());
    part.set("logprobs", Json.array());
    message.withArray("content").add(part);
    return message;
  }

  private static ArrayNode modelsTried(List<Attempt> attempts) {
    ArrayNode models = Json.array();
    attempts.stream().map(Attempt::model).distinct().forEach(models::add);
    return models;
  }

  /** A turn's token counts as OpenAI's {@code usage} object. */
  static ObjectNode usage(TokenUsage usage) {
    ObjectNode out = Json.object().put("input_tokens", usage.inputTokens());
    out.set("input_tokens_details", Json.object().put("cached_tokens", usage.cachedTokens()));
    out.put("output_tokens", usage.outputTokens());
    out.set("output_tokens_details", Json.object().put("reasoning_tokens", usage.reasoningTokens()));
    out.put("total_tokens", usage.inputTokens() + usage.outputTokens());
    return out;
  }

  // ---- the response object ------------------------------------------------------------------

  private ObjectNode snapshot(String status, ArrayNode output, ObjectNode usage, ObjectNode error,
      ObjectNode incompleteDetails) {
    ObjectNode request = shape.request();
    ObjectNode r = Json.object().put("id", shape.id()).put("object", "response").put("created_at", shape.createdAt())
        .put("status", status).put("background", false);
    r.set("error", error);
    r.set("incomplete_details", incompleteDetails);
    r.set("instructions", request.get("instructions"));
    r.set("max_output_tokens", request.get("max_output_tokens"));
    r.put("model", model == null ? shape.requestedModel() : model);
    r.set("output", output);
    r.put("parallel_tool_calls", !request.has("parallel_tool_calls") || request.get("parallel_tool_calls").asBoolean());
    r.set("previous_response_id", request.get("previous_response_id"));
    r.set("reasoning", request.has("reasoning") ? request.get("reasoning")
        : Json.object().putNull("effort").putNull("summary"));
    r.put("store", true);
    r.set("temperature", request.get("temperature"));
    r.set("text", Json.object().set("format", Json.object().put("type", "text")));
    r.set("tool_choice", request.has("tool_choice") ? request.get("tool_choice") : Json.MAPPER.valueToTree("auto"));
    r.set("tools", request.has("tools") ? request.get("tools") : Json.array());
    r.set("top_p", request.get("top_p"));
    r.put("truncation", "disabled");
    r.set("usage", usage);
    r.set("user", request.get("user"));
    r.set("metadata", request.has("metadata") ? request.get("metadata") : Json.object());
    ObjectNode talon = r.putObject("talon");
    talon.put("session_key", shape.sessionKey()).put("requested_model", shape.requestedModel());
    talon.set("switches", switches.deepCopy());
    talon.set("compactions", compactions.deepCopy());
    return r;
  }

  private static ObjectNode talon(ObjectNode response) {
    return (ObjectNode) response.get("talon");
  }

  private Frame frame(String type, String field, JsonNode value) {
    ObjectNode data = Json.object().put("type", type);
    data.set(field, value);
    return frame(data);
  }

  private Frame frame(ObjectNode data) {
    data.put(SEQUENCE, sequence++);
    return new JsonFrame(data.get("type").textValue(), data);
  }
}
