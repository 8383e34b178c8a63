package dev.talon.config;

import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * How settings that hold secrets (keys, tokens, passwords, header values) print: whether one is
 * set, never its value, so a config logged or quoted in an error gives nothing away.
 */
final class Secrets {
  static final String MASK = "****";

  private Secrets() {}

  static String masked(Optional<String> secret) {
    return secret.map(Secrets::masked).orElse("none");
  }

  static String masked(String secret) {
    return secret == null || secret.isEmpty() ? "none" : MASK;
  }

  /** Header names stay readable; their values may be credentials ({@code x-api-key}). */
  static String maskedValues(Map<String, String> headers) {
    Map<String, String> out = new TreeMap<>();
    headers.keySet().forEach(name -> out.put(name, MASK));
    return out.toString();
  }
}
