package dev.talon.gateway;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.conversation.OutputItem.McpCall;
import dev.talon.conversation.TurnEvent;
import java.util.Locale;

/**
 * MCP tool calls and listings as every wire format shows them (Responses items and events, chat
 * markers, transcripts), so that a call reads the same wherever a client meets it: its server
 * as {@code server_label} and its tool's own {@code name}, as OpenAI's hosted MCP tool names them.
 */
final class McpJson {
  private McpJson() {}

  /** A server's listing: its tools as OpenAI's {@code mcp_list_tools} item holds them, or why there are none. */
  static ObjectNode listing(TurnEvent.ToolsListed listed) {
    ObjectNode out = Json.object().put("server_label", listed.server());
    ArrayNode tools = out.putArray("tools");
    for (TurnEvent.ListedTool tool : listed.tools()) {
      ObjectNode entry = tools.addObject().put("name", tool.name()).put("description", tool.description());
      entry.set("input_schema", tool.inputSchema());
      entry.putNull("annotations");
    }
    return out.put("error", listed.error());
  }

  /** The call as the model asked for it. */
  static ObjectNode call(McpCall call) {
    return Json.object().put("call_id", call.callId()).put("server_label", call.server()).put("name", call.tool())
        .put("arguments", call.arguments());
  }

  /**
   * The call and where it stands in Talon's own terms ({@code running}, {@code completed},
   * {@code failed}, {@code refused}, ...), with what the model is shown of it.
   */
  static ObjectNode outcome(McpCall call) {
    return call(call).put("status", call.status().name().toLowerCase(Locale.ROOT)).put("output", call.output());
  }

  /** A call that waits for a person, and where to answer it. */
  static ObjectNode approvalRequired(String responseId, McpCall call) {
    return Json.object().put("response_id", responseId).<ObjectNode>setAll(call(call))
        .put("approve_path", "/v1/responses/" + responseId + "/approve");
  }
}
