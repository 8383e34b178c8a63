package dev.talon.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** What every benchmark's {@code main} does: run, then exit, since actor systems would keep a failed run alive. */
final class BenchMain {
  interface Body {
    void run(String[] args) throws Exception;
  }

  private BenchMain() {}

  /**
   * A benchmark's counts from its arguments: {@code quick} picks the short run's, and each
   * {@code key=value} overrides one of them.
   */
  static Map<String, Integer> counts(String[] args, Map<String, Integer> full, Map<String, Integer> quick) {
    List<String> rest = new ArrayList<>(List.of(args));
    Map<String, Integer> counts = new TreeMap<>(rest.remove("quick") ? quick : full);
    for (String arg : rest) {
      int eq = arg.indexOf('=');
      if (eq < 0 || !counts.containsKey(arg.substring(0, eq))) {
        throw new IllegalArgumentException("expected quick or key=value with a key of " + counts.keySet() + ", got '"
            + arg + "'");
      }
      counts.put(arg.substring(0, eq), Integer.parseInt(arg.substring(eq + 1)));
    }
    return counts;
  }

  static void run(String[] args, Body body) {
    try {
      body.run(args);
      System.exit(0);
    } catch (Exception e) {
      e.printStackTrace();
      System.exit(1);
    }
  }
}
