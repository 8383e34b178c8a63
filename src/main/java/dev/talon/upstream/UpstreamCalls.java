package dev.talon.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.config.Api;
import dev.talon.config.Model;
import dev.talon.config.Provider;
import dev.talon.upstream.ModelRequest.FunctionCall;
import dev.talon.upstream.ModelRequest.FunctionCallOutput;
import dev.talon.upstream.ModelRequest.Item;
import dev.talon.upstream.ModelRequest.Message;
import dev.talon.upstream.ModelRequest.Role;
import dev.talon.upstream.ModelRequest.Tool;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Maps a neutral {@link ModelRequest} onto each server protocol: the Responses API, Chat
 * Completions and Anthropic Messages. Per-model {@code params} are merged last, so a user can
 * pass any server-specific knob (top_k, chat_template_kwargs, …) and override ours.
 */
public final class UpstreamCalls {
  /** Compat flag (OpenClaw's name): whether the server accepts {@code stream_options.include_usage}. */
  public static final String SUPPORTS_USAGE_IN_STREAMING = "supportsUsageInStreaming";

  /** Compat flag: send {@code max_completion_tokens} instead of {@code max_tokens} (OpenAI reasoning models). */
  public static final String MAX_COMPLETION_TOKENS = "maxCompletionTokens";

  static final String ANTHROPIC_VERSION = "2023-06-01";

  private UpstreamCalls() {}

  public static UpstreamCall encode(Model model, ModelRequest given, boolean stream) {
    ModelRequest request = ImageNotes.fitFor(model, given);
    ObjectNode body = switch (model.api()) {
      case OPENAI_RESPONSES -> responses(model, request);
      case OPENAI_COMPLETIONS -> chat(model, request, stream);
      case ANTHROPIC_MESSAGES -> anthropic(model, request);
    };
    body.put("stream", stream);
    if (model.params() != null) {
      body.setAll(model.params().deepCopy());
    }
    return new UpstreamCall(model.api(), url(model), headers(model, stream), body);
  }

  static String url(Model model) {
    String root = apiRoot(model.provider(), model.api());
    return switch (model.api()) {
      case OPENAI_RESPONSES -> root + "/responses";
      case OPENAI_COMPLETIONS -> root + "/chat/completions";
      case ANTHROPIC_MESSAGES -> root + "/messages";
    };
  }

  /**
   * Where {@code api}'s paths ({@code /responses}, {@code /models}, …) hang: the baseUrl, except
   * that Anthropic's is conventionally the host (OpenClaw users also write {@code …/v1}).
   */
  static String apiRoot(Provider provider, Api api) {
    String base = provider.baseUrl().toString();
    return api == Api.ANTHROPIC_MESSAGES && !base.endsWith("/v1") ? base + "/v1" : base;
  }

  static Map<String, String> headers(Model model, boolean stream) {
    Map<String, String> headers = new LinkedHashMap<>();
    headers.put("Content-Type", "application/json");
    if (stream) {
      headers.put("Accept", "text/event-stream");
    }
    headers.putAll(providerHeaders(model.provider(), model.api()));
    headers.putAll(model.headers());
    return headers;
  }

  /** What every request to {@code provider} in {@code api} carries: its key in that api's header, its own headers. */
  static Map<String, String> providerHeaders(Provider provider, Api api) {
    Map<String, String> headers = new LinkedHashMap<>();
    provider.apiKey().ifPresent(key -> {
      if (api == Api.ANTHROPIC_MESSAGES) {
        headers.put("x-api-key", key);
      } else {
        headers.put("Authorization", "Bearer " + key);
      }
    });
    if (api == Api.ANTHROPIC_MESSAGES) {
      headers.put("anthropic-version", ANTHROPIC_VERSION);
    }
    headers.putAll(provider.headers());
    return headers;
  }

  // ---- openai-responses ---------------------------------------------------------------------

  private static ObjectNode responses(Model model, ModelRequest request) {
    ObjectNode body = object();
    body.put("model", model.id());
    if (request.instructions() != null) {
      body.put("instructions", request.instructions());
    }
    ArrayNode input = body.putArray("input");
    for (Item item : request.input()) {
      if (item instanceof Message m) {
        ObjectNode message = input.addObject().put("type", "message").put("role", role(m.role()));
        // OpenAI rejects input_text in assistant history: it must be output_text.
        message.set("content", ContentParts.responses(m.content(), m.role() == Role.ASSISTANT ? "output_text"
            : "input_text"));
      } else if (item instanceof FunctionCall c) {
        input.addObject().put("type", "function_call").put("call_id", c.callId()).put("name", c.name())
            .put("arguments", c.arguments());
      } else if (item instanceof FunctionCallOutput o) {
        input.addObject().put("type", "function_call_output").put("call_id", o.callId())
            .set("output", ContentParts.responsesOutput(o.content()));
      }
    }
    if (!request.tools().isEmpty()) {
      ArrayNode tools = body.putArray("tools");
      request.tools().forEach(tool -> functionTool(tools.addObject().put("type", "function"), tool));
    }
    if (request.toolChoice() != null) {
      body.set("tool_choice", isMode(request.toolChoice())
          ? body.textNode(request.toolChoice())
          : object().put("type", "function").put("name", request.toolChoice()));
    }
    body.put("max_output_tokens", maxTokens(model, request));
    if (request.temperature() != null) {
      body.put("temperature", request.temperature());
    }
    if (request.reasoningEffort() != null) {
      body.putObject("reasoning").put("effort", request.reasoningEffort());
    }
    // Talon keeps the history and sends it whole; servers need not store anything.
    body.put("store", false);
    return body;
  }

  // ---- openai-completions -------------------------------------------------------------------

  private static ObjectNode chat(Model model, ModelRequest request, boolean stream) {
    ObjectNode body = object();
    body.put("model", model.id());
    ArrayNode messages = body.putArray("messages");
    if (request.instructions() != null) {
      messages.addObject().put("role", "system").put("content", request.instructions());
    }
    ArrayNode pendingCalls = null; // consecutive function calls form one assistant message
    ArrayNode toolImages = null; // a tool message holds text only: its images follow as a user message
    for (Item item : request.input()) {
      if (!(item instanceof FunctionCallOutput)) {
        toolImages = flushToolImages(messages, toolImages);
      }
      if (item instanceof FunctionCall c) {
        if (pendingCalls == null) {
          ObjectNode assistant = messages.addObject().put("role", "assistant");
          assistant.putNull("content");
          pendingCalls = assistant.putArray("tool_calls");
        }
        ObjectNode call = pendingCalls.addObject().put("id", c.callId()).put("type", "function");
        call.putObject("function").put("name", c.name()).put("arguments", c.arguments());
        continue;
      }
      pendingCalls = null;
      if (item instanceof Message m) {
        messages.addObject().put("role", role(m.role())).set("content", ContentParts.chat(m.content()));
      } else if (item instanceof FunctionCallOutput o) {
        messages.addObject().put("role", "tool").put("tool_call_id", o.callId()).put("content", o.output());
        if (ModelRequest.Part.hasImages(o.content())) {
          toolImages = toolImages != null ? toolImages : messages.arrayNode();
          toolImages.addAll(ContentParts.chatToolImages(o));
        }
      }
    }
    flushToolImages(messages, toolImages);
    if (!request.tools().isEmpty()) {
      ArrayNode tools = body.putArray("tools");
      request.tools().forEach(tool -> functionTool(tools.addObject().put("type", "function").putObject("function"), tool));
    }
    if (request.toolChoice() != null) {
      ObjectNode named = object().put("type", "function");
      named.putObject("function").put("name", request.toolChoice());
      body.set("tool_choice", isMode(request.toolChoice()) ? body.textNode(request.toolChoice()) : named);
    }
    body.put(model.compatFlag(MAX_COMPLETION_TOKENS, false) ? "max_completion_tokens" : "max_tokens",
        maxTokens(model, request));
    if (request.temperature() != null) {
      body.put("temperature", request.temperature());
    }
    if (request.reasoningEffort() != null) {
      body.put("reasoning_effort", request.reasoningEffort());
    }
    if (stream && model.compatFlag(SUPPORTS_USAGE_IN_STREAMING, true)) {
      body.putObject("stream_options").put("include_usage", true);
    }
    return body;
  }

  /** The user message carrying the images of the tool results just written, if any; null to start afresh. */
  private static ArrayNode flushToolImages(ArrayNode messages, ArrayNode toolImages) {
    if (toolImages != null) {
      messages.addObject().put("role", "user").set("content", toolImages);
    }
    return null;
  }

  // ---- anthropic-messages -------------------------------------------------------------------

  private static ObjectNode anthropic(Model model, ModelRequest request) {
    ObjectNode body = object();
    body.put("model", model.id());
    int maxTokens = maxTokens(model, request);
    body.put("max_tokens", maxTokens);
    StringBuilder system = new StringBuilder(request.instructions() == null ? "" : request.instructions());
    ArrayNode messages = body.putArray("messages");
    ObjectNode current = null;
    String currentRole = null;
    for (Item item : request.input()) {
      if (item instanceof Message m && (m.role() == Role.SYSTEM || m.role() == Role.DEVELOPER)) {
        system.append(system.isEmpty() ? "" : "\n\n").append(m.text());
        continue;
      }
      String role = item instanceof Message m && m.role() == Role.ASSISTANT || item instanceof FunctionCall
          ? "assistant" : "user";
      if (!role.equals(currentRole)) { // Anthropic requires user and assistant to alternate
        current = messages.addObject().put("role", role);
        current.putArray("content");
        currentRole = role;
      }
      ArrayNode content = (ArrayNode) current.get("content");
      if (item instanceof Message m) {
        content.addAll(ContentParts.anthropic(m.content()));
      } else if (item instanceof FunctionCall c) {
        content.addObject().put("type", "tool_use").put("id", c.callId()).put("name", c.name())
            .set("input", toolInput(c.arguments()));
      } else if (item instanceof FunctionCallOutput o) {
        content.addObject().put("type", "tool_result").put("tool_use_id", o.callId())
            .set("content", ContentParts.anthropicResult(o.content()));
      }
    }
    if ("assistant".equals(currentRole)) {
      // A continued answer ends the messages; Anthropic prefills it but refuses trailing whitespace.
      JsonNode last = current.get("content").get(current.get("content").size() - 1);
      if ("text".equals(last.path("type").asText())) {
        ((ObjectNode) last).put("text", last.get("text").asText().stripTrailing());
      }
    }
    if (!system.isEmpty()) {
      body.put("system", system.toString());
    }
    if (!request.tools().isEmpty()) {
      ArrayNode tools = body.putArray("tools");
      for (Tool tool : request.tools()) {
        ObjectNode t = tools.addObject().put("name", tool.name());
        if (tool.description() != null) {
          t.put("description", tool.description());
        }
        t.set("input_schema", tool.parameters() != null ? tool.parameters() : object().put("type", "object"));
      }
    }
    if (request.toolChoice() != null) {
      body.set("tool_choice", switch (request.toolChoice()) {
        case "auto" -> object().put("type", "auto");
        case "required" -> object().put("type", "any");
        case "none" -> object().put("type", "none");
        default -> object().put("type", "tool").put("name", request.toolChoice());
      });
    }
    if (request.temperature() != null) {
      body.put("temperature", request.temperature());
    }
    if (request.reasoningEffort() != null) {
      int budget = switch (request.reasoningEffort().toLowerCase(Locale.ROOT)) {
        case "minimal", "low" -> 2048;
        case "high", "xhigh", "max" -> 16384;
        default -> 8192;
      };
      // Anthropic requires the thinking budget to stay below max_tokens (and at least 1024).
      int capped = Math.min(budget, maxTokens - 1);
      if (capped >= 1024) {
        body.putObject("thinking").put("type", "enabled").put("budget_tokens", capped);
      }
    }
    return body;
  }

  private static JsonNode toolInput(String arguments) {
    try {
      JsonNode parsed = UpstreamJson.MAPPER.readTree(arguments == null || arguments.isBlank() ? "{}" : arguments);
      return parsed.isObject() ? parsed : object().set("value", parsed);
    } catch (java.io.IOException e) {
      // A model may have produced invalid JSON; keep it visible rather than drop the call.
      return object().put("raw_arguments", arguments);
    }
  }

  // ---- shared -------------------------------------------------------------------------------

  private static void functionTool(ObjectNode target, Tool tool) {
    target.put("name", tool.name());
    if (tool.description() != null) {
      target.put("description", tool.description());
    }
    target.set("parameters", tool.parameters() != null ? tool.parameters() : object().put("type", "object"));
    if (tool.strict() != null) {
      target.put("strict", tool.strict());
    }
  }

  private static boolean isMode(String toolChoice) {
    return List.of("auto", "none", "required").contains(toolChoice);
  }

  private static int maxTokens(Model model, ModelRequest request) {
    return request.maxOutputTokens() != null ? request.maxOutputTokens() : model.maxTokens();
  }

  private static String role(Role role) {
    return role.name().toLowerCase(Locale.ROOT);
  }

  private static ObjectNode object() {
    return UpstreamJson.MAPPER.createObjectNode();
  }
}
