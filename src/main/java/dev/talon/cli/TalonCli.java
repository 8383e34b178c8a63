package dev.talon.cli;

import dev.talon.config.ConfigException;
import dev.talon.config.ConfigLoader;
import dev.talon.config.TalonConfig;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/** {@code talon}: the command line. Exit codes: 0 ok, 1 failure, 2 invalid config or usage. */
@Command(
    name = "talon",
    // Inherited: every subcommand, now and later, takes -h/--help and -V/--version.
    scope = ScopeType.INHERIT,
    mixinStandardHelpOptions = true,
    version = "talon 0.1.0",
    description = "Actor-based streaming agent runtime for local LLMs.",
    subcommands = {ServeCommand.class, ChatCommand.class, ConfigCommand.class, ModelsCommand.class,
        DoctorCommand.class, McpCommand.class})
public final class TalonCli implements Callable<Integer> {
  static final int CONFIG_ERROR = 2;
  static final String COMMON_POOL_PARALLELISM = "java.util.concurrent.ForkJoinPool.common.parallelism";

  @Option(names = "--config", scope = ScopeType.INHERIT, paramLabel = "FILE",
      description = "Config file (default: $TALON_CONFIG, else conf/talon.json5).")
  Path config;

  @Option(names = "--data", scope = ScopeType.INHERIT, paramLabel = "DIR",
      description = "Data directory (default: $TALON_DATA, else talon.dataDir, else ./data).")
  Path data;

  @Option(names = "--verbose", scope = ScopeType.INHERIT,
      description = "Print the log on the terminal (serve always does; other commands only with this).")
  boolean verbose;

  final Map<String, String> env;
  final PrintStream out;
  final PrintStream err;
  /** Whether a person watches the output: then it may carry colours and progress lines. */
  final boolean terminal;

  TalonCli(Map<String, String> env, PrintStream out, PrintStream err, boolean terminal) {
    this.env = env;
    this.out = out;
    this.err = err;
    this.terminal = terminal;
  }

  public static void main(String[] args) {
    // Pekko's CompletionStages run even thenApply callbacks asynchronously on the common pool.
    // With fewer than 2 workers (any 2-core machine) CompletableFuture stops using the pool and
    // starts a new thread per callback: thousands per second under load. Set before first use.
    if (System.getProperty(COMMON_POOL_PARALLELISM) == null) {
      System.setProperty(COMMON_POOL_PARALLELISM,
          String.valueOf(Math.max(4, Runtime.getRuntime().availableProcessors())));
    }
    // Java 17 can only tell whether stdin and stdout both are a terminal; a pipe on either is no person watching.
    System.exit(run(System.getenv(), System.out, System.err, System.console() != null, args));
  }

  /** Runs a command with output that is not a terminal (plain text, no progress lines). */
  static int run(Map<String, String> env, PrintStream out, PrintStream err, String... args) {
    return run(env, out, err, false, args);
  }

  static int run(Map<String, String> env, PrintStream out, PrintStream err, boolean terminal, String... args) {
    TalonCli talon = new TalonCli(env, out, err, terminal);
    CommandLine cli = new CommandLine(talon);
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
    // Once the arguments are read, before anything runs: a command's answer is its output, and
    // only serve's work is a log.
    cli.setExecutionStrategy(parsed -> TerminalLog.quietUnless(talon.verbose || serves(parsed),
        () -> new CommandLine.RunLast().execute(parsed)));
    return cli.execute(args);
  }

  /** Whether {@code parsed} runs the server, whose log is part of its output. */
  private static boolean serves(CommandLine.ParseResult parsed) {
    List<CommandLine> commands = parsed.asCommandLineList();
    return commands.get(commands.size() - 1).getCommandSpec().userObject() instanceof ServeCommand;
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

  /** An actor system for a command's HTTP calls to model servers (its log shows with --verbose only). */
  static ActorSystem<Void> clientSystem(String name) {
    return ActorSystem.create(Behaviors.empty(), name);
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
