package dev.talon.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.conversation.Attempt;
import dev.talon.conversation.ConversationEntity;
import dev.talon.conversation.OutputItem;
import dev.talon.conversation.TokenUsage;
import dev.talon.conversation.TurnEvent;
import dev.talon.conversation.TurnResult;
import java.util.ArrayList;
import java.util.List;
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

  private enum Kind { MESSAGE, REASONING }

  private final Shape shape;
  private final List<ObjectNode> finalItems = new ArrayList<>();
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
    } else if (event instanceof TurnEvent.ModelSwitched switched) {
      if (switched.discardOutput()) {
        closeOpenItem("incomplete", out);
        finalItems.clear();
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
      failed(failed, out);
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
        ? Json.object().put("id", itemId("msg", openIndex)).put("type", "message").put("status", "in_progress")
            .put("role", "assistant")
        : Json.object().put("id", itemId("rs", openIndex)).put("type", "reasoning").put("status", "in_progress");
    if (kind == Kind.REASONING) {
      openItem.set("summary", Json.array());
    }
    openItem.set("content", Json.array());
    openDelta = deltaTemplate();
    out.add(frame(Json.object().put("type", "response.output_item.added").put("output_index", openIndex)
        .set("item", openItem.deepCopy())));
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
    ObjectNode item = Json.object().put("id", itemId("fc", index)).put("type", "function_call").put("status", "in_progress")
        .put("call_id", call.callId()).put("name", call.name()).put("arguments", "");
    out.add(frame(Json.object().put("type", "response.output_item.added").put("output_index", index)
        .set("item", item.deepCopy())));
    String itemId = item.get("id").textValue();
    out.add(frame(Json.object().put("type", "response.function_call_arguments.delta").put("item_id", itemId)
        .put("output_index", index).put("delta", call.arguments())));
    out.add(frame(Json.object().put("type", "response.function_call_arguments.done").put("item_id", itemId)
        .put("output_index", index).put("arguments", call.arguments()).put("name", call.name())));
    item.put("status", "completed").put("arguments", call.arguments());
    itemDone(item, index, out);
  }

  private void itemDone(ObjectNode item, int index, List<Frame> out) {
    out.add(frame(Json.object().put("type", "response.output_item.done").put("output_index", index)
        .set("item", item.deepCopy())));
    if (!"reasoning".equals(item.get("type").textValue()) || shape.includeReasoning()) {
      finalItems.add(item);
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
    return Json.object().put("type", type).put("item_id", openItem.get("id").textValue()).put("output_index", openIndex);
  }

  /** Item ids are stable for a given turn and position, so a replayed stream repeats them. */
  private String itemId(String prefix, int index) {
    return prefix + "_" + shape.id().substring("resp_".length(), "resp_".length() + 32) + "_" + index;
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
      finalItems.forEach(output::add);
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
