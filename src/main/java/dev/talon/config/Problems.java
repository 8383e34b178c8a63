package dev.talon.config;

import dev.talon.config.ConfigProblem.Severity;
import java.util.ArrayList;
import java.util.List;

/** Collects the errors and notices of one load, each placed in the file by its JSON path. */
final class Problems {
  private final String source;
  private final SourceMap map;
  private final List<ConfigProblem> all = new ArrayList<>();

  Problems(String source, SourceMap map) {
    this.source = source;
    this.map = map;
  }

  void error(String path, String message) {
    add(Severity.ERROR, path, message);
  }

  void notice(String path, String message) {
    add(Severity.NOTICE, path, message);
  }

  private void add(Severity severity, String path, String message) {
    int[] at = map.positionOf(path);
    all.add(new ConfigProblem(severity, source, path, at[0], at[1], message));
  }

  List<ConfigProblem> errors() {
    return all.stream().filter(p -> p.severity() == Severity.ERROR).toList();
  }

  List<ConfigProblem> notices() {
    return all.stream().filter(p -> p.severity() == Severity.NOTICE).toList();
  }

  void throwIfErrors() {
    if (all.stream().anyMatch(p -> p.severity() == Severity.ERROR)) {
      throw new ConfigException(errors());
    }
  }
}
