package dev.talon.cli;

import dev.talon.config.ConfigException;
import dev.talon.config.ConfigLoader;
import dev.talon.config.TalonConfig;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/** {@code talon}: the command line. Exit codes: 0 ok, 1 failure, 2 invalid config or usage. */
@Command(
    name = "talon",
    mixinStandardHelpOptions = true,
    version = "talon 0.1.0",
    description = "Actor-based streaming agent runtime for local LLMs.",
    subcommands = {ServeCommand.class, ChatCommand.class, ConfigCommand.class, ModelsCommand.class, McpCommand.class})
public final class TalonCli implements Callable<Integer> {
  static final int CONFIG_ERROR = 2;
  static final String COMMON_POOL_PARALLELISM = "java.util.concurrent.ForkJoinPool.common.parallelism";

  @Option(names = "--config", scope = ScopeType.INHERIT, paramLabel = "FILE",
      description = "Config file (default: $TALON_CONFIG, else conf/talon.json5).")
  Path config;

  @Option(names = "--data", scope = ScopeType.INHERIT, paramLabel = "DIR",
      description = "Data directory (default: $TALON_DATA, else talon.dataDir, else ./data).")
  Path data;

  final Map<String, String> env;
  final PrintStream out;
  final PrintStream err;

  TalonCli(Map<String, String> env, PrintStream out, PrintStream err) {
    this.env = env;
    this.out = out;
    this.err = err;
  }

  public static void main(String[] args) {
    // Pekko's CompletionStages run even thenApply callbacks asynchronously on the common pool.
    // With fewer than 2 workers (any 2-core machine) CompletableFuture stops using the pool and
    // starts a new thread per callback: thousands per second under load. Set before first use.
    if (System.getProperty(COMMON_POOL_PARALLELISM) == null) {
      System.setProperty(COMMON_POOL_PARALLELISM,
          String.valueOf(Math.max(4, Runtime.getRuntime().availableProcessors())));
    }
    System.exit(run(System.getenv(), System.out, System.err, args));
  }

  static int run(Map<String, String> env, PrintStream out, PrintStream err, String... args) {
    CommandLine cli = new CommandLine(new TalonCli(env, out, err));
    cli.setOut(new java.io.PrintWriter(out, true));
    cli.setErr(new java.io.PrintWriter(err, true));
    cli.setExecutionExceptionHandler((e, cmd, parsed) -> {
      if (e instanceof ConfigException config) {
        config.errors().forEach(err::println);
        return CONFIG_ERROR;
      }
      err.println("talon: " + e.getMessage());
      return 1;
    });
    return cli.execute(args);
  }

  @Override
  public Integer call() {
    new CommandLine(this).usage(out);
    return 0;
  }

  /** The config file to use: the explicit one, else $TALON_CONFIG, else conf/talon.json5. */
  Path configFile(Path explicit) {
    if (explicit != null) {
      return explicit;
    }
    if (config != null) {
      return config;
    }
    String fromEnv = env.get("TALON_CONFIG");
    if (fromEnv != null && !fromEnv.isBlank()) {
      return Path.of(fromEnv);
    }
    Path local = Path.of("conf", "talon.json5");
    String home = env.get("TALON_HOME");
    return Files.exists(local) || home == null ? local : Path.of(home).resolve(local);
  }

  TalonConfig loadConfig(Path explicit) {
    return ConfigLoader.load(configFile(explicit), env::get);
  }

  Path dataDir(TalonConfig loaded) {
    if (data != null) {
      return data;
    }
    String fromEnv = env.get("TALON_DATA");
    if (fromEnv != null && !fromEnv.isBlank()) {
      return Path.of(fromEnv);
    }
    return Path.of(loaded.talon().dataDir() != null ? loaded.talon().dataDir() : "data");
  }
}
