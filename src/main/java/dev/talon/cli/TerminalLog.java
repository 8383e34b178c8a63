package dev.talon.cli;

import ch.qos.logback.classic.Level;
import java.util.function.IntSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The log on the terminal ({@link LogSetup} writes it to stderr). {@code serve} shows it; every other
 * command prints its answer and nothing else, unless asked to with {@code --verbose}: a newcomer
 * reading {@code models status} should not have to find the answer among Pekko's start-up lines.
 */
final class TerminalLog {
  private TerminalLog() {}

  /** Runs {@code command} with the log off, unless {@code shown}; the level is restored after. */
  static int quietUnless(boolean shown, IntSupplier command) {
    // SLF4J starts here, on this thread, before any other thread logs: started by several threads
    // at once, it would print a warning of its own about "logging calls during the initialization
    // phase", whatever the level.
    Logger root = LoggerFactory.getLogger(Logger.ROOT_LOGGER_NAME);
    if (shown || !(root instanceof ch.qos.logback.classic.Logger logback)) {
      return command.getAsInt();
    }
    Level level = logback.getLevel();
    logback.setLevel(Level.OFF);
    try {
      return command.getAsInt();
    } finally {
      logback.setLevel(level);
    }
  }
}
