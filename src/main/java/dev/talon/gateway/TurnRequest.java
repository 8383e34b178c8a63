package dev.talon.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.cluster.Conversations;
import dev.talon.config.McpSettings;
import dev.talon.config.ModelCatalog;
import dev.talon.config.TalonSettings.MidStream;
import dev.talon.conversation.Presentation;
import dev.talon.tools.RequestedServer;
import dev.talon.upstream.ModelRequest;
import dev.talon.upstream.ModelRequest.Role;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.UUID;
import java.util.function.Function;

/**
 * A client request, read and checked, in the conversation's terms: which conversation, which
 * agent and model, and the turn's new input and options. Both APIs read into this.
 *
 * @param sessionKey the conversation to continue or start
 * @param keyless the client named no conversation: {@code sessionKey} was made up
 * @param store keep the turn in its conversation (OpenAI's {@code store})
 * @param previousTurnId the turn {@code previous_response_id} names, which must be the
 *     conversation's last; null otherwise
 * @param includeReasoning send the model's reasoning to the client
 * @param includeUsage chat only: end the stream with a usage chunk
 * @param midStream the {@value #FAILOVER_HEADER} header's choice, or null for the node's setting
 * @param presentation how the response looks, journaled with the turn (see {@link Presentations})
 * @param mcpServers the MCP servers the request names (OpenAI's {@code type: "mcp"} tools)
 */
record TurnRequest(String sessionKey, boolean keyless, boolean store, String previousTurnId, ModelChoice model,
    ModelRequest turn, boolean stream, boolean includeReasoning, boolean includeUsage, JsonNode metadata,
    MidStream midStream, Presentation presentation, List<RequestedServer> mcpServers) {

  static final String SESSION_HEADER = "x-talon-session-key";
  static final String OPENCLAW_SESSION_HEADER = "x-openclaw-session-key";
  static final String FAILOVER_HEADER = "x-talon-failover";

  /** {@code POST /v1/responses}. */
  static TurnRequest responses(ObjectNode body, Function<String, Optional<String>> headers, ModelCatalog catalog,
      boolean exposeReasoning, ResponseIds ids, McpSettings mcp) {
    Fields f = Fields.of(body);
    ModelChoice model = choice(f, headers, catalog);
    List<ModelRequest.Item> input = new ArrayList<>();
    Fields in = f.get("input");
    if (in.isText()) {
      input.add(new ModelRequest.Message(Role.USER, in.text()));
    } else {
      for (Fields item : in.elements()) {
        // Stateless clients (Codex and the like) send the model's earlier reasoning items back;
        // they are the model's own notes, not input, and local models cannot read them.
        if (!"reasoning".equals(item.get("type").text())) {
          input.add(responsesItem(item));
        }
      }
    }
    if (input.isEmpty()) {
      throw ApiError.badRequest("input", "Missing required parameter: 'input' (a string or a non-empty array of items).");
    }
    Fields reasoning = f.get("reasoning").object();
    boolean asked = !reasoning.get("summary").absent() || !reasoning.get("generate_summary").absent();
    for (Fields include : f.get("include").elements()) {
      asked |= include.requiredText().startsWith("reasoning");
    }
    ModelRequest turn = new ModelRequest(f.get("instructions").text(), input, tools(f.get("tools"), false),
        toolChoice(f.get("tool_choice"), false), f.get("max_output_tokens").positiveInt(),
        f.get("temperature").number(0, 2), reasoning.get("effort").text());
    Optional<ResponseIds.Ref> previous = Optional.ofNullable(f.get("previous_response_id").text())
        .map(id -> ids.parse(id).orElseThrow(() -> ApiError.notFound("response_not_found",
            "previous_response_id", "No response with id '" + id + "' exists.")));
    metadata(f.get("metadata"));
    Optional<String> key = sessionKey(headers, f.get("user").text(), previous.map(ResponseIds.Ref::sessionKey));
    return new TurnRequest(key.orElseGet(TurnRequest::newKey), key.isEmpty(), f.get("store").bool(true),
        previous.map(ResponseIds.Ref::turnId).orElse(null), model, turn, f.get("stream").bool(false),
        asked || exposeReasoning, false, f.get("metadata").node(), midStream(headers),
        Presentations.responses(body, model, asked || exposeReasoning), McpToolRequests.read(f.get("tools"), mcp));
  }

  /**
   * {@code POST /v1/chat/completions}. Leading system and developer messages are the turn's
   * instructions; the other messages are its input: with a session key only the new ones, without
   * one the whole context.
   */
  static TurnRequest chat(ObjectNode body, Function<String, Optional<String>> headers, ModelCatalog catalog,
      boolean exposeReasoning) {
    Fields f = Fields.of(body);
    ModelChoice model = choice(f, headers, catalog);
    StringBuilder instructions = new StringBuilder();
    List<ModelRequest.Item> input = new ArrayList<>();
    for (Fields message : f.get("messages").elements()) {
      String role = message.get("role").requiredText();
      switch (role) {
        case "system", "developer" -> {
          if (input.isEmpty()) {
            instructions.append(instructions.isEmpty() ? "" : "\n\n").append(message.get("content").content());
          } else {
            input.add(new ModelRequest.Message(Role.SYSTEM, message.get("content").content()));
          }
        }
        case "user" -> input.add(new ModelRequest.Message(Role.USER, message.get("content").parts()));
        case "assistant" -> {
          String text = message.get("content").content();
          if (!text.isEmpty()) {
            input.add(new ModelRequest.Message(Role.ASSISTANT, text));
          }
          for (Fields call : message.get("tool_calls").elements()) {
            Fields function = call.get("function").object();
            input.add(new ModelRequest.FunctionCall(call.get("id").requiredText(), function.get("name").requiredText(),
                Optional.ofNullable(function.get("arguments").text()).orElse("{}")));
          }
        }
        case "tool" -> input.add(new ModelRequest.FunctionCallOutput(message.get("tool_call_id").requiredText(),
            message.get("content").parts()));
        default -> throw ApiError.badRequest(message.get("role").path(), "Unknown role '" + role
            + "': expected system, developer, user, assistant or tool.");
      }
    }
    if (input.isEmpty()) {
      throw ApiError.badRequest("messages", "Missing required parameter: 'messages' (at least one that is not a"
          + " system message).");
    }
    Integer maxTokens = f.get("max_completion_tokens").positiveInt();
    ModelRequest turn = new ModelRequest(instructions.isEmpty() ? null : instructions.toString(), input,
        tools(f.get("tools"), true), toolChoice(f.get("tool_choice"), true),
        maxTokens != null ? maxTokens : f.get("max_tokens").positiveInt(), f.get("temperature").number(0, 2),
        f.get("reasoning_effort").text());
    metadata(f.get("metadata"));
    // The client owns the history unless it names a conversation or asks to store, or the agent
    // acts: its tool calls are journaled, so its turns are stored, keyless ones in a conversation of their own.
    Optional<String> key = sessionKey(headers, f.get("user").text(), Optional.empty());
    return new TurnRequest(key.orElseGet(TurnRequest::newKey), key.isEmpty(),
        f.get("store").bool(key.isPresent() || model.agent(catalog).acts()), null, model, turn, f.get("stream").bool(false), exposeReasoning,
        f.get("stream_options").object().get("include_usage").bool(false), f.get("metadata").node(),
        midStream(headers), Presentations.chat(body, model, turn, exposeReasoning), List.of());
  }

  private static ModelChoice choice(Fields f, Function<String, Optional<String>> headers, ModelCatalog catalog) {
    return ModelChoice.resolve(catalog, f.get("model").text(), headers.apply("x-openclaw-agent-id"),
        headers.apply("x-openclaw-model"));
  }

  /** What the conversations are asked for. */
  Conversations.NewTurn newTurn() {
    return new Conversations.NewTurn(sessionKey, keyless, previousTurnId, store, model.agentId(), model.modelRef(),
        turn, midStream, presentation, mcpServers);
  }

  private static MidStream midStream(Function<String, Optional<String>> headers) {
    return headers.apply(FAILOVER_HEADER).map(value -> Optional.ofNullable(MidStream.parse(value.strip()))
        .orElseThrow(() -> ApiError.badRequest(FAILOVER_HEADER, "Invalid " + FAILOVER_HEADER + " header '" + value
            + "': expected continue or restart."))).orElse(null);
  }

  /**
   * The session header, else {@code previous_response_id}'s conversation, else the {@code user}
   * field; with none of them, empty.
   */
  private static Optional<String> sessionKey(Function<String, Optional<String>> headers, String user,
      Optional<String> previous) {
    Optional<String> header = headerKey(headers, SESSION_HEADER).or(() -> headerKey(headers, OPENCLAW_SESSION_HEADER));
    if (header.isPresent() && previous.isPresent() && !header.get().equals(previous.get())) {
      throw ApiError.badRequest("previous_response_id",
          "previous_response_id belongs to another conversation than the session key header names.");
    }
    return header.or(() -> previous)
        .or(() -> Optional.ofNullable(user).filter(u -> !u.isBlank())
            .map(u -> SessionKeys.checked("user:" + u, "user", "'user' (the key is user:<user>)")));
  }

  private static String newKey() {
    return "anon:" + UUID.randomUUID();
  }

  private static Optional<String> headerKey(Function<String, Optional<String>> headers, String name) {
    return headers.apply(name).filter(key -> !key.isBlank())
        .map(key -> SessionKeys.checked(key, null, "the " + name + " header"));
  }

  private static ModelRequest.Item responsesItem(Fields item) {
    String type = item.get("type").text();
    if (type == null || type.equals("message")) {
      String role = item.get("role").requiredText();
      Role parsed = switch (role) {
        case "user", "system", "developer", "assistant" -> Role.valueOf(role.toUpperCase(Locale.ROOT));
        default -> throw ApiError.badRequest(item.get("role").path(), "Unknown role '" + role
            + "': expected user, assistant, system or developer.");
      };
      Fields content = item.get("content");
      return parsed == Role.USER ? new ModelRequest.Message(parsed, content.parts())
          : new ModelRequest.Message(parsed, content.content());
    }
    return switch (type) {
      case "function_call" -> new ModelRequest.FunctionCall(item.get("call_id").requiredText(),
          item.get("name").requiredText(), item.get("arguments").requiredText());
      case "function_call_output" -> new ModelRequest.FunctionCallOutput(item.get("call_id").requiredText(),
          item.get("output").parts());
      default -> throw ApiError.badRequest(item.get("type").path(), "Unsupported input item type '" + type
          + "': Talon accepts message, function_call and function_call_output items.");
    };
  }

  private static List<ModelRequest.Tool> tools(Fields tools, boolean nested) {
    List<ModelRequest.Tool> out = new ArrayList<>();
    for (Fields tool : tools.elements()) {
      String type = tool.get("type").requiredText();
      if (!nested && type.equals(McpToolRequests.TYPE)) {
        continue; // the servers the request names: see McpToolRequests
      }
      if (!type.equals("function")) {
        throw ApiError.badRequest(tool.get("type").path(), "Unsupported tool type '" + type
            + "': Talon passes function tools only.");
      }
      Fields function = nested ? tool.get("function").object() : tool;
      Fields parameters = function.get("parameters").object();
      out.add(new ModelRequest.Tool(function.get("name").requiredText(), function.get("description").text(),
          parameters.absent() ? null : parameters.node(), function.get("strict").absent() ? null
              : function.get("strict").bool(false)));
    }
    return out;
  }

  /** {@code "auto"|"none"|"required"}, or a function name from {@code {"type":"function",...}}. */
  private static String toolChoice(Fields choice, boolean nested) {
    if (choice.absent() || choice.isText()) {
      String text = choice.text();
      if (text != null && !List.of("auto", "none", "required").contains(text)) {
        throw ApiError.badRequest(choice.path(), "Invalid tool_choice '" + text + "': expected auto, none or required.");
      }
      return text;
    }
    if (!choice.isObject() || !"function".equals(choice.get("type").text())) {
      throw choice.wrong("\"auto\", \"none\", \"required\" or {\"type\":\"function\", ...}");
    }
    return (nested ? choice.get("function").object() : choice).get("name").requiredText();
  }

  private static void metadata(Fields metadata) {
    if (metadata.absent()) {
      return;
    }
    if (!metadata.isObject()) {
      throw metadata.wrong("an object of strings");
    }
    metadata.node().fields().forEachRemaining(entry -> metadata.get(entry.getKey()).text());
  }
}
