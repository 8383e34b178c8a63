package dev.talon.testing;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpRequest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * {@code talon serve} as a real process of its own, started from the test JVM's classpath (the
 * jar is not built before the tests run): for what only a separate process shows, such as
 * SIGKILL, SIGTERM and a restart on the same data. Its output (stdout and stderr, Talon's log
 * included) is kept for {@link #logs()}. {@link #run} runs any other command to its end.
 */
public final class TalonProcess implements AutoCloseable {
  private static final Pattern LISTENING = Pattern.compile("talon: listening on http://([^ ]+):(\\d+) ");
  private static final int MAX_LOG_LINES = 5_000;

  private final Process process;
  private final List<String> lines = new ArrayList<>();
  private final CompletableFuture<Integer> port = new CompletableFuture<>();

  private TalonProcess(Process process) {
    this.process = process;
    Thread reader = new Thread(this::readOutput, "talon-process-" + process.pid());
    reader.setDaemon(true);
    reader.start();
  }

  /**
   * Starts {@code talon serve --port 0} on {@code config} and {@code data}, and waits until it
   * listens (its stderr line "talon: listening on http://…"). It sends itself no warm-up turns
   * (which would compete with the test for the machine): see {@link #startWarmingUp}.
   *
   * @throws IllegalStateException with the process's output when it exits or is not ready in {@code timeout}
   */
  public static TalonProcess start(Path config, Path data, Duration timeout, String... jvmOptions)
      throws IOException {
    List<String> command = talonCommand(jvmOptions);
    command.addAll(serveArguments(config, data, 0));
    return launch(command, timeout);
  }

  /** As {@link #start}, with {@code warmupTurns} warm-up turns once started. */
  public static TalonProcess startWarmingUp(Path config, Path data, Duration timeout, int warmupTurns)
      throws IOException {
    List<String> command = talonCommand();
    command.addAll(serveArguments(config, data, warmupTurns));
    return launch(command, timeout);
  }

  /** What a command that ends printed, each stream apart. */
  public record Finished(int exit, String out, String err) {}

  /**
   * Runs {@code talon <arguments>} (a command that ends, such as {@code models status}) to its end,
   * within {@code timeout}, with the terminal a user would have: stdout and stderr apart, no stdin.
   */
  public static Finished run(Duration timeout, String... arguments) throws IOException, InterruptedException {
    List<String> command = talonCommand();
    command.addAll(List.of(arguments));
    Path out = Files.createTempFile("talon-out", ".txt");
    Path err = Files.createTempFile("talon-err", ".txt");
    try {
      Process process = new ProcessBuilder(command).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
      if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        process.destroyForcibly().waitFor();
        throw new IllegalStateException("talon " + String.join(" ", arguments) + " still runs after " + timeout
            + "\n" + Files.readString(out) + Files.readString(err));
      }
      return new Finished(process.exitValue(), Files.readString(out), Files.readString(err));
    } finally {
      Files.delete(out);
      Files.delete(err);
    }
  }

  /** {@code java … dev.talon.cli.TalonCli} on the test JVM's classpath, with Talon's own logging. */
  private static List<String> talonCommand(String... jvmOptions) {
    List<String> command = new ArrayList<>(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        // C1 only: a JVM that starts again and again in a test gains nothing from C2
        "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx512m"));
    command.addAll(List.of(jvmOptions));
    command.addAll(List.of("-cp", classPathWithoutTests(), "dev.talon.cli.TalonCli"));
    return command;
  }

  /**
   * The test JVM's class path without the test classes: Talon then logs as it does for a user, not
   * into the capturing appender of the tests' logback-test.xml.
   */
  private static String classPathWithoutTests() {
    Path testClasses;
    try {
      testClasses = Path.of(TalonProcess.class.getProtectionDomain().getCodeSource().getLocation().toURI());
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
    return Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
        .filter(entry -> !Path.of(entry).toAbsolutePath().equals(testClasses.toAbsolutePath()))
        .collect(Collectors.joining(File.pathSeparator));
  }

  /**
   * {@code bin/talon serve} exactly as users start it, on the jar the package phase built (so only
   * for tests run after it, {@code *IT}); the project's root is the {@code talon.home} property.
   */
  public static TalonProcess serve(Path config, Path data, Duration timeout) throws IOException {
    return launch(serveCommand(config, data), timeout);
  }

  /** {@code bin/talon serve} started, without waiting for it to listen. */
  public static TalonProcess launchServe(Path config, Path data) throws IOException {
    return new TalonProcess(new ProcessBuilder(serveCommand(config, data)).redirectErrorStream(true).start());
  }

  private static List<String> serveCommand(Path config, Path data) {
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("talon.home"), "bin", "talon").toString()));
    command.addAll(serveArguments(config, data, 0));
    return command;
  }

  private static List<String> serveArguments(Path config, Path data, int warmupTurns) {
    return List.of("serve", "--port", "0", "--warmup-turns", String.valueOf(warmupTurns), "--config",
        config.toString(), "--data", data.toString());
  }

  private static TalonProcess launch(List<String> command, Duration timeout) throws IOException {
    TalonProcess talon = new TalonProcess(new ProcessBuilder(command).redirectErrorStream(true).start());
    try {
      talon.port.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
      return talon;
    } catch (ExecutionException | TimeoutException | InterruptedException e) {
      talon.kill();
      throw new IllegalStateException("talon did not start listening within " + timeout + ": " + e.getMessage()
          + "\n" + talon.logs(), e);
    }
  }

  /**
   * Writes {@code <dir>/talon.json5}: the default agent answers with {@code local/a}, served by
   * {@code upstream} over the Responses API; {@code talon} is Talon's own section (JSON5).
   */
  public static Path writeConfig(Path dir, FakeUpstream upstream, String talon) throws IOException {
    return Files.writeString(dir.resolve("talon.json5"), """
        { agents: { defaults: { model: { primary: "local/a" } } },
          models: { mode: "replace", providers: {
            local: { baseUrl: "%s", apiKey: "none", api: "openai-responses", models: [{ id: "a" }] } } },
          talon: %s }
        """.formatted(upstream.baseUrl(), talon));
  }

  /** A request to {@code path} (e.g. {@code /v1/responses}) on this process. */
  public HttpRequest.Builder request(String path) {
    return HttpRequest.newBuilder(URI.create(baseUrl() + path));
  }

  public int port() {
    return port.join();
  }

  /** {@code http://127.0.0.1:<port>}. */
  public String baseUrl() {
    return "http://127.0.0.1:" + port();
  }

  public long pid() {
    return process.pid();
  }

  // Signals go through the process handle: Process.destroy would also close the output pipe,
  // and the last lines of a stopping process would be lost.

  /** SIGKILL (on Linux): no shutdown hook, no flush, no goodbye. Returns once the process is gone. */
  public void kill() {
    process.toHandle().destroyForcibly();
    awaitExit(Duration.ofSeconds(30));
  }

  /** SIGTERM (on Linux): a graceful stop. Returns the exit code once the process is gone. */
  public int terminate(Duration timeout) {
    process.toHandle().destroy();
    return awaitExit(timeout);
  }

  /** Everything the process printed so far. */
  public String logs() {
    synchronized (lines) {
      return String.join("\n", lines);
    }
  }

  @Override
  public void close() {
    if (process.isAlive()) {
      kill();
    }
  }

  /** Waits for the process to exit (no signal sent) and returns its exit code. */
  public int awaitExit(Duration timeout) {
    try {
      if (!process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
        throw new IllegalStateException("talon (pid " + pid() + ") still runs after " + timeout + "\n" + logs());
      }
      return process.exitValue();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  private void readOutput() {
    try (BufferedReader out = new BufferedReader(new InputStreamReader(process.getInputStream(),
        StandardCharsets.UTF_8))) {
      for (String line = out.readLine(); line != null; line = out.readLine()) {
        synchronized (lines) {
          if (lines.size() < MAX_LOG_LINES) {
            lines.add(line);
          }
        }
        Matcher listening = LISTENING.matcher(line);
        if (listening.find()) {
          port.complete(Integer.parseInt(listening.group(2)));
        }
      }
    } catch (IOException e) {
      lines.add("(output unreadable: " + e + ")");
    } finally {
      port.completeExceptionally(new IllegalStateException("talon exited before it listened"));
    }
  }
}
