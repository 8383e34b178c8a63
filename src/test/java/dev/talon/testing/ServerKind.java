package dev.talon.testing;

/**
 * The real servers whose quirks the fake imitates: error body shapes ({@link ErrorBodies}) and
 * {@code GET /v1/models} shapes ({@link FakeUpstream#modelsShape}).
 */
public enum ServerKind {
  OPENAI,
  LM_STUDIO,
  VLLM,
  LLAMA_CPP,
  OLLAMA,
  LITELLM,
  ANTHROPIC
}
