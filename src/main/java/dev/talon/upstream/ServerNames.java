package dev.talon.upstream;

import dev.talon.config.Provider;
import java.util.Locale;

/**
 * How a provider's server is named in what users read ({@code models status}, a turn's error), so
 * that both say the same thing about the same server.
 */
final class ServerNames {
  private ServerNames() {}

  /** A name the user recognises, guessed from the provider id or the server's usual port. */
  static String of(Provider provider) {
    String id = provider.id().toLowerCase(Locale.ROOT);
    int port = port(provider);
    if (id.contains("lmstudio") || id.contains("lm-studio") || port == 1234) {
      return "LM Studio";
    }
    if (id.contains("ollama") || port == 11434) {
      return "Ollama";
    }
    if (id.contains("vllm")) {
      return "vLLM";
    }
    if (id.contains("llama")) {
      return "llama.cpp";
    }
    if (id.contains("litellm") || port == 4000) {
      return "LiteLLM";
    }
    return "the server of provider " + provider.id();
  }

  /** e.g. {@code LM Studio at 127.0.0.1:1234}. */
  static String at(Provider provider) {
    return of(provider) + " at " + provider.baseUrl().getHost() + ":" + port(provider);
  }

  static String refusedConnection(Provider provider) {
    return at(provider) + " refused the connection — is its server started?";
  }

  private static int port(Provider provider) {
    int port = provider.baseUrl().getPort();
    return port > 0 ? port : "https".equals(provider.baseUrl().getScheme()) ? 443 : 80;
  }
}
