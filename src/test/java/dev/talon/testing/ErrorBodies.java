package dev.talon.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * Error bodies exactly as each server shapes them (protocols.md §2.8, §5), for {@link
 * Script#status(int, JsonNode)} and {@link Script#streamErrorAfter(int, JsonNode)}. The HTTP status
 * each one is sent with by its server is named in its comment.
 */
public final class ErrorBodies {
  private ErrorBodies() {}

  // ---- OpenAI (and the many servers that copy it) ----

  /** {@code {"error":{"message","type","param","code"}}}; null param/code become JSON null. */
  public static ObjectNode openAi(String message, String type, String param, String code) {
    ObjectNode error = Json.object().put("message", message).put("type", type);
    error.put("param", param).put("code", code);
    return wrap(error);
  }

  /** Sent with 429. */
  public static ObjectNode openAiRateLimit() {
    return openAi(
        "Rate limit reached for requests. Please try again in 1s.",
        "requests",
        null,
        "rate_limit_exceeded");
  }

  /** Sent with 429 but not retryable (recorded: openai-error-insufficient-quota.json). */
  public static ObjectNode openAiInsufficientQuota() {
    return openAi(
        "You exceeded your current quota, please check your plan and billing details. For more"
            + " information on this error, read the docs:"
            + " https://platform.openai.com/docs/guides/error-codes/api-errors.",
        "insufficient_quota",
        null,
        "insufficient_quota");
  }

  /** Sent with 500, and the default in-stream error of the OpenAI protocols. */
  public static ObjectNode openAiServerError() {
    return openAi(
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        null,
        null);
  }

  /** Sent with 400, or streamed as {@code response.failed}. */
  public static ObjectNode openAiContextOverflow() {
    return openAi(
        "Your input exceeds the context window of this model. Please adjust your input and try"
            + " again.",
        "invalid_request_error",
        "input",
        "context_length_exceeded");
  }

  // ---- vLLM ≥ 0.10.1: integer code, Python exception names as type ----

  public static ObjectNode vllm(int code, String type, String message, String param) {
    ObjectNode error = Json.object().put("message", message).put("type", type).put("param", param);
    return wrap(error.put("code", code));
  }

  /** Sent with 404. */
  public static ObjectNode vllmModelNotFound(String model) {
    return vllm(404, "NotFoundError", "The model `" + model + "` does not exist.", null);
  }

  /** Sent with 500. */
  public static ObjectNode vllmEngineError() {
    return vllm(
        500,
        "InternalServerError",
        "EngineCore encountered an issue. See stack trace (above) for the root cause.",
        null);
  }

  /** Sent with 400. */
  public static ObjectNode vllmContextOverflow(int promptTokens, int contextWindow) {
    return vllm(
        400,
        "BadRequestError",
        "This model's maximum context length is "
            + contextWindow
            + " tokens. However, you requested 0 output tokens and your prompt contains at least "
            + promptTokens
            + " input tokens, for a total of at least "
            + promptTokens
            + " tokens. Please reduce the length of the input prompt or the number of requested"
            + " output tokens.",
        "input_tokens");
  }

  // ---- llama.cpp llama-server: integer code, no param ----

  public static ObjectNode llamaCpp(int code, String type, String message) {
    return wrap(Json.object().put("code", code).put("message", message).put("type", type));
  }

  /** Sent with 503 on every endpoint, {@code /health} included, while the model loads. */
  public static ObjectNode llamaCppLoading() {
    return llamaCpp(503, "unavailable_error", "Loading model");
  }

  /** Sent with 400 (recorded: llamacpp-context-overflow-400.json). */
  public static ObjectNode llamaCppContextOverflow(int promptTokens, int contextWindow) {
    ObjectNode body =
        llamaCpp(
            400,
            "exceed_context_size_error",
            "request ("
                + promptTokens
                + " tokens) exceeds the available context size ("
                + contextWindow
                + " tokens), try increasing it");
    ((ObjectNode) body.get("error"))
        .put("n_prompt_tokens", promptTokens)
        .put("n_ctx", contextWindow);
    return body;
  }

  // ---- LM Studio ----

  /** Sent with 404 when nothing is loaded. */
  public static ObjectNode lmStudioNoModelsLoaded() {
    return openAi(
        "No models loaded. Please load a model in the developer page or use the `lms load`"
            + " command.",
        "invalid_request_error",
        "model",
        "model_not_found");
  }

  /** Sent with 404 when several models are loaded and the requested id is none of them. */
  public static ObjectNode lmStudioModelNotFound(String model, List<String> loaded) {
    return openAi(
        "Model \""
            + model
            + "\" not found. Please specify a valid model.\n\nYour models:\n\n"
            + String.join("\n", loaded),
        "invalid_request_error",
        "model",
        "model_not_found");
  }

  /** Sent with 400; LM Studio puts a bare string in {@code error} here. */
  public static ObjectNode lmStudioContextOverflow(int promptTokens, int contextWindow) {
    return Json.object()
        .put(
            "error",
            "The number of tokens to keep from the initial prompt is greater than the context"
                + " length (n_keep: "
                + promptTokens
                + ">= n_ctx: "
                + contextWindow
                + "). Try to load the model with a larger context length, or provide a shorter"
                + " input.");
  }

  // ---- Ollama (OpenAI layer): null param and code ----

  public static ObjectNode ollama(String type, String message) {
    return openAi(message, type, null, null);
  }

  /** Sent with 503 when {@code OLLAMA_MAX_QUEUE} is full. */
  public static ObjectNode ollamaServerBusy() {
    return ollama("api_error", "server busy, please try again.  maximum pending requests exceeded");
  }

  /** Sent with 404. */
  public static ObjectNode ollamaModelNotFound(String model) {
    return ollama("not_found_error", "model \"" + model + "\" not found, try pulling it first");
  }

  /** Sent with 400 when context shift is off. */
  public static ObjectNode ollamaContextOverflow() {
    return ollama(
        "invalid_request_error",
        "the prompt is longer than the context length currently available to the model; shorten"
            + " the prompt, adjust the context length in settings, or use a model with a longer"
            + " context length");
  }

  // ---- LiteLLM proxy: string code, "None" for type and param ----

  public static ObjectNode liteLlm(String code, String message) {
    return openAi(message, "None", "None", code);
  }

  /** Sent with 429. */
  public static ObjectNode liteLlmRateLimit() {
    return liteLlm(
        "429",
        "litellm.RateLimitError: RateLimitError: OpenAIException - Rate limit reached. Received"
            + " Model Group=fake-model\nAvailable Model Group Fallbacks=None");
  }

  /** Sent with 400. */
  public static ObjectNode liteLlmContextOverflow(int promptTokens, int contextWindow) {
    return liteLlm(
        "400",
        "litellm.ContextWindowExceededError: litellm.BadRequestError: This model's maximum context"
            + " length is "
            + contextWindow
            + " tokens. However, your messages resulted in "
            + promptTokens
            + " tokens. Please reduce the length of the messages.");
  }

  // ---- Anthropic Messages ----

  /** {@code {"type":"error","error":{"type","message"},"request_id"}}. */
  public static ObjectNode anthropic(String type, String message) {
    ObjectNode body = Json.object().put("type", "error");
    body.putObject("error").put("type", type).put("message", message);
    return body.put("request_id", Json.id("req_"));
  }

  /** Sent with 529, and the default in-stream error of the Messages protocol. */
  public static ObjectNode anthropicOverloaded() {
    return anthropic("overloaded_error", "Overloaded");
  }

  /** Sent with 400. */
  public static ObjectNode anthropicContextOverflow(int promptTokens, int contextWindow) {
    return anthropic(
        "invalid_request_error",
        "prompt is too long: " + promptTokens + " tokens > " + contextWindow + " maximum");
  }

  // ---- by server ----

  /** The 400 body {@code server} answers a prompt longer than its context window with. */
  public static ObjectNode contextOverflow(ServerKind server, int promptTokens, int contextWindow) {
    return switch (server) {
      case OPENAI -> openAiContextOverflow();
      case VLLM -> vllmContextOverflow(promptTokens, contextWindow);
      case LLAMA_CPP -> llamaCppContextOverflow(promptTokens, contextWindow);
      case LM_STUDIO -> lmStudioContextOverflow(promptTokens, contextWindow);
      case OLLAMA -> ollamaContextOverflow();
      case LITELLM -> liteLlmContextOverflow(promptTokens, contextWindow);
      case ANTHROPIC -> anthropicContextOverflow(promptTokens, contextWindow);
    };
  }

  /** A recorded body, e.g. {@code openai-error-insufficient-quota.json}. */
  public static JsonNode fromFixture(String fileName) {
    return Json.parse(Fixtures.read(TestResources.upstreamFixture(fileName)));
  }

  private static ObjectNode wrap(ObjectNode error) {
    ObjectNode body = Json.object();
    body.set("error", error);
    return body;
  }
}
