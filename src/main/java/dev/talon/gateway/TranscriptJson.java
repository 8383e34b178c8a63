package dev.talon.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import dev.talon.cluster.JournalTranscripts;
import dev.talon.conversation.ConversationEntity.Context;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.conversation.InputItem;
import dev.talon.conversation.OutputItem;
import dev.talon.conversation.TurnResult;
import dev.talon.upstream.ModelRequest;
import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * {@code GET /v1/conversations/{key}} on the wire, written field by field in the API's style
 * (snake_case, lower-case roles and statuses, items as a Responses request takes them, and the
 * MCP calls Talon ran as {@code mcp_call} items with their status and output), so the journal's
 * records can change without clients noticing.
 */
final class TranscriptJson {
  private TranscriptJson() {}

  /**
   * A page of the conversation's turns, with where the next page starts and what models see of it.
   *
   * @param responseId the response id of a turn, by its turn id
   * @param exposeReasoning whether turns journaled before their presentation was kept show reasoning
   */
  static ObjectNode of(String sessionKey, JournalTranscripts.Page page, Context context,
      Function<String, String> responseId, boolean exposeReasoning) {
    ObjectNode out = Json.object().put("object", "conversation").put("session_key", sessionKey)
        .put("turn_count", context.turnCount());
    ArrayNode turns = out.putArray("turns");
    page.turns().forEach(numbered -> turns.add(Json.object().put("number", numbered.number())
        .setAll(turn(numbered.turn(), responseId.apply(numbered.turn().turnId()), exposeReasoning))));
    out.put("has_more", page.more())
        .put("next_after", page.turns().isEmpty() ? null : page.turns().get(page.turns().size() - 1).number());
    out.set("context", context(context, responseId));
    return out;
  }

  /** What models see of the conversation: its size against the budget, and its latest summary. */
  private static ObjectNode context(Context context, Function<String, String> responseId) {
    ObjectNode out = Json.object().put("tokens", context.tokens()).put("budget_tokens", context.budgetTokens())
        .put("model", context.model()).put("compactions", context.compactions())
        .put("kept_turns", context.keptTurns()).put("compacting", context.compacting());
    out.set("latest_compaction", context.latest() == null ? null : CompactionJson.stored(context.latest(), responseId));
    return out;
  }

  private static ObjectNode turn(Turn turn, String responseId, boolean exposeReasoning) {
    ObjectNode out = Json.object().put("response_id", responseId).put("status", status(turn))
        .put("created_at", turn.startedAt().getEpochSecond()).put("agent", turn.agentId())
        .put("requested_model", turn.requestedModel());
    ArrayNode input = out.putArray("input");
    turn.input().forEach(item -> input.add(input(item)));
    TurnResult result = turn.result();
    if (result != null) {
      out.put("model", result.model()).put("finish_reason", result.finishReason());
      ArrayNode output = out.putArray("output");
      result.output().forEach(item -> output.add(output(item)));
      boolean shown = turn.presentation() != null ? turn.presentation().reasoning() : exposeReasoning;
      if (shown && result.reasoning() != null && !result.reasoning().isEmpty()) {
        out.put("reasoning", result.reasoning());
      }
      ArrayNode parts = out.putArray("parts");
      result.parts().forEach(part -> parts.add(Json.object().put("model", part.model()).put("start", part.start())
          .put("end", part.end())));
      out.set("usage", ResponsesStream.usage(result.usage()));
      out.put("cost_usd", result.costUsd());
    }
    if (!turn.toolCalls().isEmpty()) {
      // a turn that did not complete: the calls it made are not in an output, and may have taken effect
      ArrayNode calls = out.putArray("tool_calls");
      turn.toolCalls().forEach(call -> calls.add(mcpCall(call)));
    }
    if (turn.failure() != null) {
      out.set("error", Json.object().put("code", ApiError.errorCode(turn.failure().kind()))
          .put("message", turn.failure().reason()));
    }
    ArrayNode tried = out.putArray("attempts");
    Transcripts.attempts(turn).forEach(attempt -> tried.add(Json.object().put("model", attempt.model())
        .put("error", attempt.failureKind() == null ? null : ApiError.errorCode(attempt.failureKind()))
        .put("status", attempt.status()).put("message", attempt.message()).put("duration_ms", attempt.millis())));
    return out;
  }

  private static String status(Turn turn) {
    return switch (turn.status()) {
      case RUNNING -> "in_progress";
      case COMPLETED -> "completed";
      case FAILED -> "failed";
      case INTERRUPTED -> "interrupted";
    };
  }

  private static ObjectNode input(InputItem item) {
    ModelRequest.Item model = item.toModelItem();
    if (model instanceof ModelRequest.Message message) {
      ObjectNode node = Json.object().put("type", "message").put("role", message.role().name().toLowerCase(Locale.ROOT));
      return node.set("content", content(message.content()));
    }
    if (model instanceof ModelRequest.FunctionCall call) {
      return functionCall(call.callId(), call.name(), call.arguments());
    }
    ModelRequest.FunctionCallOutput output = (ModelRequest.FunctionCallOutput) model;
    return Json.object().put("type", "function_call_output").put("call_id", output.callId())
        .set("output", content(output.content()));
  }

  /** Plain text as a string, as it was sent; with images, the parts in the form /v1/responses accepts. */
  private static JsonNode content(List<ModelRequest.Part> parts) {
    if (!ModelRequest.Part.hasImages(parts)) {
      return TextNode.valueOf(ModelRequest.Part.text(parts));
    }
    ArrayNode out = Json.array();
    for (ModelRequest.Part part : parts) {
      if (part instanceof ModelRequest.Image image) {
        ObjectNode node = out.addObject().put("type", "input_image").put("image_url", image.url());
        if (image.detail() != null) {
          node.put("detail", image.detail());
        }
      } else {
        out.addObject().put("type", "input_text").put("text", ((ModelRequest.Text) part).text());
      }
    }
    return out;
  }

  private static ObjectNode output(OutputItem item) {
    if (item instanceof OutputItem.FunctionCall call) {
      return functionCall(call.callId(), call.name(), call.arguments());
    }
    if (item instanceof OutputItem.McpCall call) {
      return mcpCall(call);
    }
    return Json.object().put("type", "message").put("role", "assistant").put("content", ((OutputItem.Text) item).text());
  }

  /** An MCP call Talon ran (or refused), with what became of it: not an item a request takes. */
  private static ObjectNode mcpCall(OutputItem.McpCall call) {
    return Json.object().put("type", "mcp_call").setAll(McpJson.outcome(call));
  }

  private static ObjectNode functionCall(String callId, String name, String arguments) {
    return Json.object().put("type", "function_call").put("call_id", callId).put("name", name)
        .put("arguments", arguments);
  }
}
