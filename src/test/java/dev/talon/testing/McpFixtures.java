package dev.talon.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.talon.config.ConfigLoader;
import dev.talon.config.TalonConfig;
import dev.talon.tools.ToolFailure;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/** What the MCP tests share: the npm reference servers, configs, and waiting on answers. */
public final class McpFixtures {
  /** Installed by {@code npm ci} in {@code src/test/mcp} ({@code .ci/run} does it). */
  public static final Path NPM_BIN = Path.of("src", "test", "mcp", "node_modules", ".bin").toAbsolutePath();
  /** Longer than any answer a test waits for; only a hung test reaches it. */
  public static final Duration PATIENCE = Duration.ofSeconds(60);
  private static final ObjectMapper JSON = new ObjectMapper();

  private McpFixtures() {}

  /** The npm server {@code name}'s executable; the test is skipped only where node or npm is not installed. */
  public static String npmServer(String name) {
    assumeTrue(onPath("node") && onPath("npm"), "node and npm are not installed: the stdio MCP tests run the"
        + " reference servers from npm");
    Path bin = NPM_BIN.resolve(name);
    assertTrue(Files.isExecutable(bin), bin + " is missing: run `npm ci` in src/test/mcp (.ci/run does)");
    return bin.toString();
  }

  private static boolean onPath(String program) {
    String path = System.getenv("PATH");
    return path != null && java.util.Arrays.stream(path.split(File.pathSeparator))
        .anyMatch(dir -> Files.isExecutable(Path.of(dir, program)));
  }

  /** A config with one model (every config needs one) and {@code mcp} as {@code talon.mcp}. */
  public static TalonConfig config(String mcp, String agents) {
    return ConfigLoader.parse("{ models: { providers: { p: { baseUrl: 'http://127.0.0.1:1/v1', models: [{ id: 'm' }] }"
        + " } }, agents: " + agents + ", talon: { mcp: " + mcp + " } }", "test.json5", Map.<String, String>of()::get);
  }

  public static TalonConfig config(String mcp) {
    return config(mcp, "{}");
  }

  /** {@code text} as a JSON5 string literal. */
  public static String quoted(Object text) {
    try {
      return JSON.writeValueAsString(text.toString());
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }

  public static JsonNode json(String text) {
    try {
      return JSON.readTree(text);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalArgumentException(e);
    }
  }

  public static <T> T await(CompletionStage<T> stage) throws Exception {
    return stage.toCompletableFuture().get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
  }

  /** The failure {@code stage} ends with, which must come within {@code within}. */
  public static ToolFailure failure(CompletionStage<?> stage, Duration within)
      throws InterruptedException, TimeoutException {
    try {
      stage.toCompletableFuture().get(within.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause() instanceof CompletionException c ? c.getCause() : e.getCause();
      if (cause instanceof ToolFailure failure) {
        return failure;
      }
      throw new AssertionError("expected a ToolFailure, got " + cause, cause);
    }
    throw new AssertionError("expected a ToolFailure, got an answer");
  }
}
