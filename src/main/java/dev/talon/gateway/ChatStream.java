package dev.talon.gateway;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.conversation.OutputItem;
import dev.talon.conversation.TokenUsage;
import dev.talon.conversation.TurnEvent;
import dev.talon.conversation.TurnResult;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.util.ByteString;

/**
 * One turn as Chat Completions tells it: {@code chat.completion.chunk} objects, a usage chunk when
 * asked, then {@code [DONE]}. A model switch is a chunk with an empty delta and a
 * {@code talon.model_switched} object (SDKs ignore unknown fields). Chat has no way to take text
 * back, so when the switch discards the output only a client that knows the object drops what it
 * showed; by default the switch continues the answer and nothing needs dropping.
 *
 * <p>The MCP tools Talon runs for an agent that acts are told the same way, in markers:
 * {@code talon.tools_listed}, {@code talon.tool_call} as a call starts, {@code talon.tool_result}
 * as it ends (or is refused), {@code talon.approval_required} while it waits for a person. They are
 * never {@code tool_calls}, which a client would run itself. A switch that discards output voids
 * only the text after the last tool result: each model call of the turn stands on its own.
 */
final class ChatStream {
  private static final ByteString DONE = ByteString.fromString(Sse.text(null, "[DONE]"));

  private final String id;
  private final String responseId;
  private final long created;
  private final boolean includeReasoning;
  private final boolean includeUsage;
  private String model;
  private int toolCalls;
  /** The per-token chunks of the current model, made when first needed. */
  private SseTemplate content;
  private SseTemplate reasoning;

  /**
   * @param responseId the turn's response id: the completion's id is made from it, and a call that
   *     waits for approval is answered through it
   */
  ChatStream(String responseId, long created, String requestedModel, boolean includeReasoning, boolean includeUsage) {
    this.id = "chatcmpl-" + responseId.substring(ResponseIds.PREFIX.length());
    this.responseId = responseId;
    this.created = created;
    this.model = requestedModel;
    this.includeReasoning = includeReasoning;
    this.includeUsage = includeUsage;
  }

  /** The SSE events for one turn event, ready to send. */
  List<ByteString> on(TurnEvent event) {
    List<ByteString> out = new ArrayList<>();
    if (event instanceof TurnEvent.Started started) {
      model(started.model());
      out.add(sse(chunk(Json.object().put("role", "assistant").put("content", ""), null)));
    } else if (event instanceof TurnEvent.TextDelta text) {
      if (content == null) {
        content = deltaTemplate("content");
      }
      out.add(content.fill(text.text()));
    } else if (event instanceof TurnEvent.ReasoningDelta thought) {
      if (includeReasoning) {
        if (reasoning == null) {
          reasoning = deltaTemplate("reasoning_content");
        }
        out.add(reasoning.fill(thought.text()));
      }
    } else if (event instanceof TurnEvent.ToolCall call) {
      ObjectNode delta = Json.object();
      delta.withArray("tool_calls").add(toolCall(toolCalls++, call.callId(), call.name(), call.arguments()));
      out.add(sse(chunk(delta, null)));
    } else if (event instanceof TurnEvent.ToolsListed listed) {
      out.add(sse(marker("tools_listed", McpJson.listing(listed))));
    } else if (event instanceof TurnEvent.ApprovalRequired approval) {
      out.add(sse(marker("approval_required", McpJson.approvalRequired(responseId, approval.call()))));
    } else if (event instanceof TurnEvent.ToolCallStarted started) {
      out.add(sse(marker("tool_call", McpJson.call(started.call()))));
    } else if (event instanceof TurnEvent.ToolCallFinished finished) {
      out.add(sse(marker("tool_result", McpJson.outcome(finished.call()))));
    } else if (event instanceof TurnEvent.ModelSwitched switched) {
      model(switched.toModel());
      toolCalls = 0;
      out.add(sse(marker("model_switched", Json.object().put("from", switched.fromModel())
          .put("to", switched.toModel()).put("reason", switched.reason())
          .put("discard_output", switched.discardOutput()))));
    } else if (event instanceof TurnEvent.CompactionStarted started) {
      out.add(sse(marker("compaction_started", CompactionJson.started(started))));
    } else if (event instanceof TurnEvent.Compacted compacted) {
      out.add(sse(marker("compaction_completed", CompactionJson.completed(compacted.compaction()))));
    } else if (event instanceof TurnEvent.Completed completed) {
      model(completed.result().model());
      out.add(sse(chunk(Json.object(), finishReason(completed.result()))));
      if (includeUsage) {
        ObjectNode usage = chunk(null, null);
        usage.set("usage", usage(completed.result().usage()));
        out.add(sse(usage));
      }
      out.add(DONE);
    } else if (event instanceof TurnEvent.Failed failed) {
      out.add(sse(Json.object().set("error", ApiError.turnFailed(failed).error())));
      out.add(DONE);
    }
    return out;
  }

  /** Chunks name the model: the templates made for another one are stale. */
  private void model(String model) {
    this.model = model;
    content = null;
    reasoning = null;
  }

  /** The chunk of one delta field, the same as {@link #chunk} writes, for each token's text. */
  private SseTemplate deltaTemplate(String field) {
    return new SseTemplate(Sse.text(null, chunk(Json.object().put(field, SseTemplate.TEXT), null)));
  }

  private static ByteString sse(ObjectNode chunk) {
    return Sse.bytes(null, chunk);
  }

  /** A chunk with an empty delta that tells Talon-aware clients what happened: other clients see nothing. */
  private ObjectNode marker(String what, ObjectNode details) {
    ObjectNode chunk = chunk(Json.object(), null);
    chunk.putObject("talon").set(what, details);
    return chunk;
  }

  /**
   * The whole answer as a non-streamed {@code chat.completion}: the MCP calls Talon ran are in
   * {@code talon.tool_calls}, apart from the client's own {@code tool_calls}.
   */
  ObjectNode completion(TurnResult result) {
    ObjectNode message = Json.object().put("role", "assistant");
    String text = result.text();
    message.put("content", text.isEmpty() && hasToolCalls(result) ? null : text);
    message.putNull("refusal");
    if (includeReasoning && result.reasoning() != null && !result.reasoning().isEmpty()) {
      message.put("reasoning_content", result.reasoning());
    }
    int index = 0;
    ArrayNode mcpCalls = Json.array();
    for (OutputItem item : result.output()) {
      if (item instanceof OutputItem.FunctionCall call) {
        ObjectNode toolCall = toolCall(index++, call.callId(), call.name(), call.arguments());
        toolCall.remove("index");
        message.withArray("tool_calls").add(toolCall);
      } else if (item instanceof OutputItem.McpCall call) {
        mcpCalls.add(McpJson.outcome(call));
      }
    }
    ObjectNode completion = Json.object().put("id", id).put("object", "chat.completion").put("created", created)
        .put("model", result.model());
    completion.withArray("choices").addObject().put("index", 0).<ObjectNode>set("message", message)
        .putNull("logprobs").put("finish_reason", finishReason(result));
    completion.set("usage", usage(result.usage()));
    if (!mcpCalls.isEmpty()) {
      completion.putObject("talon").set("tool_calls", mcpCalls);
    }
    return completion;
  }

  private ObjectNode chunk(ObjectNode delta, String finishReason) {
    ObjectNode chunk = Json.object().put("id", id).put("object", "chat.completion.chunk").put("created", created)
        .put("model", model);
    ArrayNode choices = chunk.putArray("choices");
    if (delta != null) {
      choices.addObject().put("index", 0).<ObjectNode>set("delta", delta).putNull("logprobs")
          .put("finish_reason", finishReason);
    }
    if (includeUsage) {
      chunk.putNull("usage");
    }
    return chunk;
  }

  private static ObjectNode toolCall(int index, String callId, String name, String arguments) {
    ObjectNode call = Json.object().put("index", index).put("id", callId).put("type", "function");
    call.putObject("function").put("name", name).put("arguments", arguments);
    return call;
  }

  private static boolean hasToolCalls(TurnResult result) {
    return result.output().stream().anyMatch(item -> item instanceof OutputItem.FunctionCall);
  }

  private static String finishReason(TurnResult result) {
    return switch (result.finishReason() == null ? "stop" : result.finishReason()) {
      case "length", "tool_calls", "content_filter" -> result.finishReason();
      default -> "stop";
    };
  }

  private static ObjectNode usage(TokenUsage usage) {
    ObjectNode out = Json.object().put("prompt_tokens", usage.inputTokens())
        .put("completion_tokens", usage.outputTokens()).put("total_tokens", usage.inputTokens() + usage.outputTokens());
    out.putObject("prompt_tokens_details").put("cached_tokens", usage.cachedTokens());
    out.putObject("completion_tokens_details").put("reasoning_tokens", usage.reasoningTokens());
    return out;
  }
}
