package dev.talon.config;

import java.util.List;
import java.util.stream.Collectors;

/** The config file cannot be used; carries every error found, not just the first. */
public final class ConfigException extends RuntimeException {
  private final List<ConfigProblem> errors;

  public ConfigException(List<ConfigProblem> errors) {
    super(errors.stream().map(ConfigProblem::toString).collect(Collectors.joining("\n")));
    this.errors = List.copyOf(errors);
  }

  public List<ConfigProblem> errors() {
    return errors;
  }
}
