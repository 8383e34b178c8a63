package dev.talon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.talon.testing.TestResources;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;
import org.junit.jupiter.api.io.TempDir;

class TalonCliTest {
  @TempDir Path dir;

  record Run(int exit, String out, String err) {}

  static Run talon(Map<String, String> env, String... args) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    ByteArrayOutputStream err = new ByteArrayOutputStream();
    int exit = TalonCli.run(env, new PrintStream(out, true, StandardCharsets.UTF_8),
        new PrintStream(err, true, StandardCharsets.UTF_8), args);
    return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
  }

  static String example(String name) {
    return TestResources.configExample(name).toString();
  }

  @Test
  void configCheckPassesEveryExample() {
    for (String name : new String[] {"lmstudio-minimax.json5", "hybrid-hosted-primary.json5", "local-first.json5",
        "custom-openai-compatible.json5"}) {
      Run run = talon(Map.of(), "config", "check", example(name));
      assertEquals(0, run.exit(), run.err());
      assertTrue(run.out().contains(": OK ("), run.out());
    }
  }

  @Test
  void configCheckPrintsEveryErrorAndExitsTwo() throws Exception {
    Path bad = dir.resolve("bad.json5");
    Files.writeString(bad, """
        {
          models: { providers: { lm: {
            baseUrl: "http://127.0.0.1:1234/v1",
            api: "openai-chat",
            models: [{ id: "m", contextWindow: "big" }],
          } } },
        }
        """);
    Run run = talon(Map.of(), "config", "check", bad.toString());
    assertEquals(2, run.exit());
    assertTrue(run.err().contains(bad + ":4:10: error: models.providers.lm.api: unsupported api \"openai-chat\""),
        run.err());
    assertTrue(run.err().contains(bad + ":5:40: error: models.providers.lm.models[0].contextWindow: expected a positive"),
        run.err());
    assertTrue(run.err().contains("2 error(s)"), run.err());
  }

  @Test
  void configCheckReportsIgnoredKeysOnce() throws Exception {
    Path file = dir.resolve("talon.json5");
    Files.writeString(file, "{ channels: {}, models: { providers: { p: { baseUrl: 'http://127.0.0.1:1/v1', "
        + "models: [{ id: 'm' }] } } } }");
    Run run = talon(Map.of(), "--config", file.toString(), "config", "check");
    assertEquals(0, run.exit(), run.err());
    assertEquals(1, run.out().split("channels: OpenClaw setting that Talon does not use yet", -1).length - 1, run.out());
  }

  @Test
  void theConfigComesFromTheEnvironmentWhenNotGiven() {
    Run run = talon(Map.of("TALON_CONFIG", example("local-first.json5")), "config", "check");
    assertEquals(0, run.exit(), run.err());
    assertTrue(run.out().contains("local-first.json5: OK"), run.out());
  }

  @Test
  void aMissingConfigFileIsAClearError() {
    Run run = talon(Map.of(), "--config", dir.resolve("nope.json5").toString(), "models", "list");
    assertEquals(2, run.exit());
    assertTrue(run.err().contains("nope.json5: error: config file not found"), run.err());
  }

  @Test
  void modelsListShowsChainAliasesApiWindowAndSource() {
    Run run = talon(Map.of(), "--config", example("hybrid-hosted-primary.json5"), "models", "list");
    assertEquals(0, run.exit(), run.err());
    assertTrue(run.out().contains(
        "agent main (default): anthropic/claude-sonnet-4-5 -> lmstudio/minimax-m2.1-gs32 -> anthropic/claude-opus-4-5"),
        run.out());
    String lmstudio = run.out().lines().filter(l -> l.startsWith("lmstudio/minimax-m2.1-gs32")).findFirst().orElseThrow();
    assertTrue(lmstudio.matches("lmstudio/minimax-m2.1-gs32\\s+MiniMax Local\\s+openai-responses\\s+196608\\s+8192\\s+config\\s+ready"),
        lmstudio);
    String opus = run.out().lines().filter(l -> l.startsWith("anthropic/claude-opus-4-5")).findFirst().orElseThrow();
    assertTrue(opus.matches("anthropic/claude-opus-4-5\\s+Opus\\s+anthropic-messages\\s+200000\\s+64000\\s+built-in\\s+"
        + "unavailable: ANTHROPIC_API_KEY is not set"), opus);
  }

  /** Every command's path, e.g. {@code [models, status]}, the root's ({@code []}) first. */
  static List<List<String>> commandPaths(CommandLine command, List<String> path) {
    List<List<String>> paths = new ArrayList<>(List.of(path));
    command.getSubcommands().forEach((name, sub) -> {
      List<String> deeper = new ArrayList<>(path);
      deeper.add(name);
      paths.addAll(commandPaths(sub, deeper));
    });
    return paths;
  }

  @Test
  void everyCommandAnswersHelpAndExitsZero() {
    List<List<String>> paths = commandPaths(new CommandLine(new TalonCli(Map.of(), System.out, System.err, false)), List.of());
    assertEquals(11, paths.size(), "talon, serve, chat, config, config check, models, models list, models status,"
        + " doctor, mcp, mcp list: " + paths);
    for (List<String> path : paths) {
      for (String help : new String[] {"--help", "-h"}) {
        List<String> args = new ArrayList<>(path);
        args.add(help);
        Run run = talon(Map.of(), args.toArray(String[]::new));
        assertEquals(0, run.exit(), args + ": " + run.err());
        assertTrue(run.out().startsWith("Usage: " + String.join(" ", List.of("talon", String.join(" ", path))).strip()
            + " "), args + ": " + run.out());
        assertEquals("", run.err(), args.toString());
      }
    }
    assertEquals("talon 0.1.0\n", talon(Map.of(), "models", "status", "--version").out(), "inherited from talon");
  }

  @Test
  void nothingPrintedIntoAPipeHasEscapeCodes() throws Exception {
    Path file = dir.resolve("talon.json5");
    Files.writeString(file, "{ channels: {}, models: { providers: { p: { baseUrl: 'http://127.0.0.1:1/v1', "
        + "models: [{ id: 'm' }] } } } }");
    for (String[] args : new String[][] {{"--help"}, {"models", "status", "--help"}, {"config", "check", file.toString()},
        {"config", "check", dir.resolve("none.json5").toString()}, {"no-such-command"}}) {
      Run run = talon(Map.of(), args);
      assertTrue(!run.out().contains("\u001b") && !run.err().contains("\u001b"), run.out() + run.err());
    }
  }

  @Test
  void listeningOnTheLanWithoutATokenIsAConfigErrorForCheckAndServe() throws Exception {
    Path file = dir.resolve("lan.json5");
    Files.writeString(file, "{ gateway: { bind: 'lan' }, models: { providers: { p: { baseUrl: 'http://127.0.0.1:1/v1',"
        + " models: [{ id: 'm' }] } } } }");
    Run check = talon(Map.of(), "config", "check", file.toString());
    assertEquals(2, check.exit(), check.out());
    assertTrue(check.err().contains(file + ":1:20: error: gateway.bind: listening on 0.0.0.0 without a token"),
        check.err());
    assertTrue(check.err().contains("set gateway.auth.token"), check.err());
    Run serve = talon(Map.of(), "--config", file.toString(), "--data", dir.resolve("data").toString(), "serve");
    assertEquals(2, serve.exit(), serve.err());
    assertTrue(serve.err().contains("error: gateway.bind:"), serve.err());
    assertEquals(0, talon(Map.of("TALON_GATEWAY_TOKEN", "t"), "config", "check", file.toString()).exit());
  }

  @Test
  void aNegativeWarmupIsAUsageError() throws Exception {
    Run serve = talon(Map.of(), "--config", example("local-first.json5"), "--data", dir.resolve("data").toString(),
        "serve", "--warmup-turns", "-1");
    assertEquals(2, serve.exit(), serve.err());
    assertTrue(serve.err().contains("--warmup-turns must be 0 or more, not -1"), serve.err());
  }

  @Test
  void modelsListJson() throws Exception {
    Run run = talon(Map.of("ANTHROPIC_API_KEY", "k"), "--config", example("local-first.json5"), "models", "list", "--json");
    assertEquals(0, run.exit(), run.err());
    JsonNode json = new ObjectMapper().readTree(run.out());
    assertEquals("lmstudio/minimax-m2.1-gs32", json.at("/agents/0/chain/0").asText());
    assertEquals("anthropic/claude-opus-4-5", json.at("/agents/0/chain/2").asText());
    JsonNode sonnet = json.get("models").get(2);
    assertEquals("anthropic/claude-sonnet-4-5", sonnet.get("ref").asText());
    assertEquals("Sonnet", sonnet.get("alias").asText());
    assertEquals("built-in", sonnet.get("source").asText());
    assertTrue(sonnet.get("available").asBoolean());
  }
}
