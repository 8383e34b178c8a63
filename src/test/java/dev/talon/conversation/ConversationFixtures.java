package dev.talon.conversation;

import dev.talon.config.ConfigLoader;
import dev.talon.config.TalonConfig;
import dev.talon.upstream.ModelRequest;
import java.util.List;
import java.util.Map;

/** Small configs for conversation and cluster tests: two local models, two agents. */
public final class ConversationFixtures {
  private ConversationFixtures() {}

  /** A config whose {@code talon} section is {@code talon} (JSON5, may be empty). */
  public static TalonConfig config(String talon) {
    return ConfigLoader.parse("""
        {
          agents: {
            defaults: { model: { primary: "local/alpha", fallbacks: ["local/beta"] } },
            list: [{ id: "main", default: true }, { id: "beta-first", model: { primary: "local/beta" } }],
          },
          models: {
            mode: "replace",
            providers: {
              local: {
                baseUrl: "http://127.0.0.1:1/v1",
                apiKey: "none",
                api: "openai-completions",
                models: [{ id: "alpha" }, { id: "beta" }],
              },
            },
          },
          talon: %s,
        }
        """.formatted(talon.isBlank() ? "{}" : talon), "test.json5", Map.<String, String>of()::get);
  }

  public static TalonConfig config() {
    return config("");
  }

  public static ModelRequest userSays(String text) {
    return ModelRequest.of(null, List.of(new ModelRequest.Message(ModelRequest.Role.USER, text)));
  }
}
