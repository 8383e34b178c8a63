package dev.talon.config;

import dev.talon.config.Model.Cost;
import dev.talon.config.Provider.Origin;
import java.net.URI;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;

/**
 * The hosted providers that {@code models.mode: "merge"} keeps available as fallbacks. Keys come
 * from the environment; a provider whose key is not set stays listed but unavailable, so a turn
 * that reaches it fails over instead of crashing. Prices are list prices in US dollars per
 * million tokens; a config entry with the same ref overrides any of these values.
 */
final class BuiltInProviders {
  private BuiltInProviders() {}

  record Entry(Provider provider, List<Model> models) {}

  static List<Entry> all(Function<String, String> env) {
    return List.of(
        entry(env, "anthropic", "https://api.anthropic.com", Api.ANTHROPIC_MESSAGES, "ANTHROPIC_API_KEY",
            List.of(
                model("claude-opus-4-5", "Claude Opus 4.5", true, 200_000, 64_000, new Cost(5, 25, 0.5, 6.25)),
                model("claude-sonnet-4-5", "Claude Sonnet 4.5", true, 200_000, 64_000, new Cost(3, 15, 0.3, 3.75)),
                model("claude-haiku-4-5", "Claude Haiku 4.5", true, 200_000, 64_000, new Cost(1, 5, 0.1, 1.25)))),
        entry(env, "openai", "https://api.openai.com/v1", Api.OPENAI_RESPONSES, "OPENAI_API_KEY",
            List.of(
                model("gpt-5", "GPT-5", true, 400_000, 128_000, new Cost(1.25, 10, 0.125, 0)),
                model("gpt-5-mini", "GPT-5 mini", true, 400_000, 128_000, new Cost(0.25, 2, 0.025, 0)),
                model("gpt-4.1", "GPT-4.1", false, 1_047_576, 32_768, new Cost(2, 8, 0.5, 0)),
                model("gpt-4o-mini", "GPT-4o mini", false, 128_000, 16_384, new Cost(0.15, 0.6, 0.075, 0)))),
        entry(env, "openrouter", "https://openrouter.ai/api/v1", Api.OPENAI_COMPLETIONS, "OPENROUTER_API_KEY",
            List.of(
                model("anthropic/claude-sonnet-4.5", "Claude Sonnet 4.5 (OpenRouter)", true, 200_000, 64_000,
                    new Cost(3, 15, 0.3, 3.75)),
                model("moonshotai/kimi-k2", "Kimi K2 (OpenRouter)", false, 131_072, 16_384, new Cost(0.6, 2.5, 0, 0)),
                model("openai/gpt-oss-120b", "gpt-oss-120b (OpenRouter)", true, 131_072, 32_768,
                    new Cost(0.1, 0.5, 0, 0)))));
  }

  /** The key variable a built-in provider reads, for messages. */
  static String keyVariable(String providerId) {
    return providerId.toUpperCase() + "_API_KEY";
  }

  private record Spec(String id, String name, boolean reasoning, int contextWindow, int maxTokens, Cost cost) {}

  private static Spec model(String id, String name, boolean reasoning, int contextWindow, int maxTokens, Cost cost) {
    return new Spec(id, name, reasoning, contextWindow, maxTokens, cost);
  }

  private static Entry entry(Function<String, String> env, String id, String baseUrl, Api api, String keyVariable,
      List<Spec> specs) {
    String key = env.apply(keyVariable);
    boolean hasKey = key != null && !key.isBlank();
    Provider provider = new Provider(id, URI.create(baseUrl), api, hasKey ? Optional.of(key) : Optional.empty(),
        Map.of(), null, Origin.BUILT_IN, hasKey ? null : keyVariable + " is not set");
    List<Model> models = specs.stream()
        .map(s -> new Model(provider, s.id, s.name, api, s.reasoning, List.of("text", "image"), s.cost,
            s.contextWindow, null, s.maxTokens, Map.of(), null, null, Origin.BUILT_IN))
        .toList();
    return new Entry(provider, models);
  }

  /** A model the built-in catalog does not list, on a built-in provider: usable with defaults. */
  static Model uncatalogued(Provider provider, String id) {
    return new Model(provider, id, id, provider.api(), false, List.of("text"), Cost.FREE,
        Model.DEFAULT_CONTEXT_WINDOW, null, Model.DEFAULT_MAX_TOKENS, Map.of(), null, null, Origin.BUILT_IN);
  }
}
