package dev.talon.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import dev.talon.testing.TestResources;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The OpenClaw "Local models" configs load unchanged. */
class ConfigExamplesTest {
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      "lmstudio-minimax.json5 | lmstudio/minimax-m2.1-gs32",
      "hybrid-hosted-primary.json5 | anthropic/claude-sonnet-4-5 lmstudio/minimax-m2.1-gs32 anthropic/claude-opus-4-5",
      "local-first.json5 | lmstudio/minimax-m2.1-gs32 anthropic/claude-sonnet-4-5 anthropic/claude-opus-4-5",
      "custom-openai-compatible.json5 | local/my-local-model"})
  void loadsUnchangedAndResolvesTheChain(String file, String chain) {
    TalonConfig config = ConfigLoader.load(TestResources.configExample(file), Map.<String, String>of()::get);
    assertEquals(List.of(chain.split(" ")),
        config.catalog().defaultAgent().candidates().stream().map(Model::ref).toList());
    Model primary = config.catalog().defaultAgent().primary();
    if (primary.provider().origin() == Provider.Origin.CONFIG) {
      assertEquals(Api.OPENAI_RESPONSES, primary.api());
      assertFalse(primary.reasoning());
    }
    assertEquals(List.of(), config.notices());
  }
}
