package dev.talon.testing;

import dev.talon.config.Api;
import dev.talon.config.Model;
import dev.talon.config.Provider;
import java.net.URI;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/** Models made in code, for rules that depend on a model's limits only. */
public final class TestModels {
  private TestModels() {}

  /** A local model with this window, cap ({@code contextTokens}, or null) and output limit. */
  public static Model model(int window, Integer contextTokens, int maxTokens) {
    Provider provider = new Provider("local", URI.create("http://127.0.0.1:1/v1"), Api.OPENAI_RESPONSES,
        Optional.empty(), Map.of(), null, Provider.Origin.CONFIG, null);
    return new Model(provider, "m", "m", Api.OPENAI_RESPONSES, false, List.of("text"), Model.Cost.FREE, window,
        contextTokens, maxTokens, Map.of(), null, null, Provider.Origin.CONFIG);
  }
}
