package dev.talon.config;

/**
 * One finding about a config file: an error (the file is unusable) or a notice (kept but
 * ignored, or worth knowing). Printed the way compilers print, so editors can jump to it.
 *
 * @param path the JSON path, e.g. {@code models.providers.lmstudio.models[0].contextWindow}
 * @param line 1-based, or 0 when unknown
 */
public record ConfigProblem(Severity severity, String source, String path, int line, int column, String message) {

  public enum Severity {
    ERROR,
    NOTICE
  }

  @Override
  public String toString() {
    String where = line > 0 ? source + ":" + line + ":" + column : source;
    String at = path.isEmpty() ? "" : path + ": ";
    return where + ": " + (severity == Severity.ERROR ? "error: " : "note: ") + at + message;
  }
}
