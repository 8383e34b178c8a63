package dev.talon.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.conversation.Presentation;
import dev.talon.upstream.ModelRequest;
import java.time.Instant;
import java.util.List;

/**
 * A turn's {@link Presentation}: made from the request that started it, journaled with the turn,
 * and read back so that a stored response and its replay look as the original did.
 */
final class Presentations {
  /** The request fields a response object repeats (see {@code ResponsesStream}). */
  private static final List<String> ECHOED = List.of("instructions", "max_output_tokens", "parallel_tool_calls",
      "previous_response_id", "reasoning", "temperature", "tool_choice", "tools", "top_p", "user", "metadata");

  private Presentations() {}

  /**
   * For {@code POST /v1/responses}: the body's own echoed fields, as sent, but for the
   * credentials of the MCP servers it names: the presentation is journaled and shown to whoever
   * reads the response.
   */
  static Presentation responses(ObjectNode body, ModelChoice model, boolean reasoning) {
    ObjectNode echo = Json.object();
    ECHOED.stream().filter(body::has).forEach(field -> echo.set(field, body.get(field).deepCopy()));
    echo.path("tools").forEach(tool -> {
      if (tool instanceof ObjectNode mcp && McpToolRequests.TYPE.equals(mcp.path("type").asText())) {
        mcp.remove(List.of("headers", "authorization"));
      }
    });
    return new Presentation(now(), model.name(), reasoning, echo);
  }

  /**
   * For {@code POST /v1/chat/completions}: what a Responses request would have said, so the turn
   * reads back as a response like any other (its system messages are the instructions, its
   * function tools lose their {@code function} wrapper).
   */
  static Presentation chat(ObjectNode body, ModelChoice model, ModelRequest turn, boolean reasoning) {
    ObjectNode echo = Json.object();
    if (turn.instructions() != null) {
      echo.put("instructions", turn.instructions());
    }
    if (turn.maxOutputTokens() != null) {
      echo.put("max_output_tokens", turn.maxOutputTokens());
    }
    for (String field : List.of("parallel_tool_calls", "temperature", "top_p", "user", "metadata")) {
      if (body.has(field)) {
        echo.set(field, body.get(field));
      }
    }
    JsonNode choice = body.get("tool_choice");
    if (choice != null) {
      echo.set("tool_choice", choice.has("function") ? unwrapped(choice) : choice);
    }
    if (body.has("tools")) {
      ArrayNode tools = echo.putArray("tools");
      body.get("tools").forEach(tool -> tools.add(unwrapped(tool)));
    }
    return new Presentation(now(), model.name(), reasoning, echo);
  }

  /**
   * How the response {@code id} of the turn that {@code presentation} started is shown.
   */
  static ResponsesStream.Shape shape(String id, String sessionKey, Presentation presentation) {
    return new ResponsesStream.Shape(id, sessionKey, presentation.createdAt(), presentation.requestedModel(),
        (ObjectNode) presentation.echo(), presentation.reasoning());
  }

  /**
   * A stored turn's shape. Turns journaled before presentations were kept get what can be told:
   * the start time, the model the conversation resolved, nothing echoed, and the node's reasoning
   * setting.
   */
  static ResponsesStream.Shape shape(String id, String sessionKey, Turn turn, boolean exposeReasoning) {
    return shape(id, sessionKey, turn.presentation() != null ? turn.presentation()
        : new Presentation(turn.startedAt().getEpochSecond(),
            turn.requestedModel() != null ? turn.requestedModel() : turn.agentId(), exposeReasoning, Json.object()));
  }

  /** {@code {"type":"function","function":{...}}} as Responses writes it: {@code {"type":"function",...}}. */
  private static ObjectNode unwrapped(JsonNode chatTool) {
    ObjectNode flat = Json.object().put("type", "function");
    if (chatTool.get("function") instanceof ObjectNode function) {
      flat.setAll(function);
    }
    return flat;
  }

  private static long now() {
    return Instant.now().getEpochSecond();
  }
}
