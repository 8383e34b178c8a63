package dev.talon.bench;

/** What every benchmark's {@code main} does: run, then exit, since actor systems would keep a failed run alive. */
final class BenchMain {
  interface Body {
    void run(String[] args) throws Exception;
  }

  private BenchMain() {}

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
