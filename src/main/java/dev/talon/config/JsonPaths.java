package dev.talon.config;

import java.util.regex.Pattern;

/** Builds the JSON paths used in config messages: {@code a.b[0]["anthropic/claude"]}. */
final class JsonPaths {
  private static final Pattern IDENTIFIER = Pattern.compile("[A-Za-z_$][A-Za-z0-9_$-]*");

  private JsonPaths() {}

  static String key(String parent, String key) {
    if (IDENTIFIER.matcher(key).matches()) {
      return parent.isEmpty() ? key : parent + "." + key;
    }
    return parent + "[\"" + key.replace("\\", "\\\\").replace("\"", "\\\"") + "\"]";
  }

  static String index(String parent, int index) {
    return parent + "[" + index + "]";
  }
}
