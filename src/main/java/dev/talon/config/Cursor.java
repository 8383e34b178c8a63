package dev.talon.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.MissingNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * A position in the config tree with typed, validating reads. A read that finds the wrong type
 * records an error at this path and returns the fallback, so one pass reports every error.
 */
final class Cursor {
  final JsonNode node;
  final String path;
  private final Problems problems;
  private final Function<String, String> env;

  Cursor(JsonNode node, String path, Problems problems, Function<String, String> env) {
    this.node = node == null ? MissingNode.getInstance() : node;
    this.path = path;
    this.problems = problems;
    this.env = env;
  }

  Cursor get(String key) {
    return new Cursor(node.get(key), JsonPaths.key(path, key), problems, env);
  }

  boolean present() {
    return !node.isMissingNode() && !node.isNull();
  }

  void error(String message) {
    problems.error(path, message);
  }

  void notice(String message) {
    problems.notice(path, message);
  }

  private String describe() {
    if (node.isTextual()) {
      return "the string \"" + node.asText() + "\"";
    }
    if (node.isObject()) {
      return "an object";
    }
    if (node.isArray()) {
      return "an array";
    }
    return node.toString();
  }

  private <T> T wrong(String expected, T fallback) {
    error("expected " + expected + ", got " + describe());
    return fallback;
  }

  /** A string with {@code ${VAR}} substituted; a missing variable is an error. */
  String text(String fallback) {
    if (!present()) {
      return fallback;
    }
    if (!node.isTextual()) {
      return wrong("a string", fallback);
    }
    try {
      return EnvSubstitution.apply(node.asText(), env);
    } catch (EnvSubstitution.MissingVariable e) {
      error(e.getMessage() + " (referenced as ${" + e.name + "})");
      return fallback;
    }
  }

  /** A required non-empty string. */
  String requiredText() {
    if (!present()) {
      error("required, but missing");
      return null;
    }
    String value = text(null);
    if (value != null && value.isBlank()) {
      error("must not be empty");
      return null;
    }
    return value;
  }

  boolean bool(boolean fallback) {
    if (!present()) {
      return fallback;
    }
    return node.isBoolean() ? node.asBoolean() : wrong("true or false", fallback);
  }

  Integer positiveInt(Integer fallback) {
    if (!present()) {
      return fallback;
    }
    if (!node.isIntegralNumber() && !(node.isNumber() && node.asDouble() == Math.rint(node.asDouble()))) {
      return wrong("a positive whole number", fallback);
    }
    long value = node.asLong();
    if (value <= 0 || value > Integer.MAX_VALUE) {
      return wrong("a positive whole number up to " + Integer.MAX_VALUE, fallback);
    }
    return (int) value;
  }

  double nonNegativeNumber(double fallback) {
    if (!present()) {
      return fallback;
    }
    if (!node.isNumber() || node.asDouble() < 0 || !Double.isFinite(node.asDouble())) {
      return wrong("a number of zero or more", fallback);
    }
    return node.asDouble();
  }

  /** True when this is an object (or absent); records an error otherwise. */
  boolean isObjectOrAbsent() {
    if (present() && !node.isObject()) {
      wrong("an object", null);
      return false;
    }
    return true;
  }

  /** The children of an object, in file order; empty when absent or not an object. */
  List<Map.Entry<String, Cursor>> fields() {
    List<Map.Entry<String, Cursor>> out = new ArrayList<>();
    if (isObjectOrAbsent() && present()) {
      for (Iterator<String> names = node.fieldNames(); names.hasNext(); ) {
        String name = names.next();
        out.add(Map.entry(name, get(name)));
      }
    }
    return out;
  }

  /** The elements of an array; empty when absent or not an array. */
  List<Cursor> elements() {
    List<Cursor> out = new ArrayList<>();
    if (!present()) {
      return out;
    }
    if (!node.isArray()) {
      return wrong("an array", out);
    }
    for (int i = 0; i < node.size(); i++) {
      out.add(new Cursor(node.get(i), JsonPaths.index(path, i), problems, env));
    }
    return out;
  }

  List<String> textList(List<String> fallback) {
    if (!present()) {
      return fallback;
    }
    List<String> out = new ArrayList<>();
    for (Cursor element : elements()) {
      String value = element.text(null);
      if (value != null) {
        out.add(value);
      }
    }
    return out;
  }

  Map<String, String> textMap() {
    Map<String, String> out = new LinkedHashMap<>();
    for (Map.Entry<String, Cursor> field : fields()) {
      String value = field.getValue().text(null);
      if (value != null) {
        out.put(field.getKey(), value);
      }
    }
    return out;
  }

  /** An object kept as JSON (params, compat), with {@code ${VAR}} substituted in its strings. */
  ObjectNode objectNode() {
    if (!present() || !isObjectOrAbsent()) {
      return null;
    }
    return (ObjectNode) substituted(this).node;
  }

  private static Cursor substituted(Cursor c) {
    if (c.node.isTextual()) {
      String value = c.text(c.node.asText());
      return new Cursor(TextNode.valueOf(value), c.path, c.problems, c.env);
    }
    if (c.node.isContainerNode()) {
      JsonNode copy = c.node.deepCopy();
      if (copy.isObject()) {
        for (Map.Entry<String, Cursor> field : c.fields()) {
          ((ObjectNode) copy).set(field.getKey(), substituted(field.getValue()).node);
        }
      } else {
        List<Cursor> elements = c.elements();
        for (int i = 0; i < elements.size(); i++) {
          ((com.fasterxml.jackson.databind.node.ArrayNode) copy).set(i, substituted(elements.get(i)).node);
        }
      }
      return new Cursor(copy, c.path, c.problems, c.env);
    }
    return c;
  }

  /** Reports keys this object has beyond {@code known} as ignored; never fatal. */
  void noticeUnknownKeys(Set<String> known) {
    for (Map.Entry<String, Cursor> field : fields()) {
      if (!known.contains(field.getKey())) {
        field.getValue().notice("unknown key, ignored");
      }
    }
  }
}
