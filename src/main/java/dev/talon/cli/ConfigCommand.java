package dev.talon.cli;

import dev.talon.config.Agent;
import dev.talon.config.ConfigException;
import dev.talon.config.Model;
import dev.talon.config.TalonConfig;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;

/** {@code talon config check [FILE]}: validates a config and says what it resolves to. */
@Command(name = "config", description = "Inspect the configuration.", subcommands = ConfigCommand.Check.class)
final class ConfigCommand {
  @ParentCommand TalonCli root;

  @Command(name = "check", description = "Validate a config file; exit 2 when it has errors.")
  static final class Check implements Callable<Integer> {
    @ParentCommand ConfigCommand parent;

    @Parameters(arity = "0..1", paramLabel = "FILE", description = "Config file (default: see --config).")
    Path file;

    @Override
    public Integer call() {
      PrintStream out = parent.root.out;
      Path path = parent.root.configFile(file);
      TalonConfig config;
      try {
        config = parent.root.loadConfig(path);
      } catch (ConfigException e) {
        e.errors().forEach(parent.root.err::println);
        parent.root.err.println(path + ": " + e.errors().size() + " error(s)");
        return TalonCli.CONFIG_ERROR;
      }
      config.notices().forEach(out::println);
      long providers = config.catalog().providers().size();
      out.println(path + ": OK (" + providers + " providers, " + config.catalog().models().size() + " models, "
          + config.catalog().agents().size() + " agent(s), mode " + config.catalog().mode().name().toLowerCase() + ")");
      for (Agent agent : config.catalog().agents()) {
        out.println("  agent " + agent.id() + ": " + agent.candidates().stream().map(Model::ref)
            .collect(Collectors.joining(" -> ")));
      }
      return 0;
    }
  }
}
