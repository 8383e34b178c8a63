package dev.talon.config;

import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** OpenClaw's {@code ${VAR}} substitution: names {@code [A-Z_][A-Z0-9_]*}; {@code $${VAR}} is a literal. */
final class EnvSubstitution {
  private static final Pattern REFERENCE = Pattern.compile("\\$?\\$\\{([A-Z_][A-Z0-9_]*)}");

  private EnvSubstitution() {}

  /** A {@code ${VAR}} whose variable is not set. */
  static final class MissingVariable extends RuntimeException {
    final String name;

    MissingVariable(String name) {
      super("environment variable " + name + " is not set", null, false, false);
      this.name = name;
    }
  }

  static String apply(String value, Function<String, String> env) {
    if (value.indexOf('$') < 0) {
      return value;
    }
    Matcher m = REFERENCE.matcher(value);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      String replacement;
      if (m.group().startsWith("$$")) {
        replacement = m.group().substring(1);
      } else {
        replacement = env.apply(m.group(1));
        if (replacement == null) {
          throw new MissingVariable(m.group(1));
        }
      }
      m.appendReplacement(out, Matcher.quoteReplacement(replacement));
    }
    m.appendTail(out);
    return out.toString();
  }
}
