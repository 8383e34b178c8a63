package dev.talon.config;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Where each value of a JSON5 text starts, by JSON path. json5-java builds the values but keeps
 * no positions (and reports some syntax errors without one), so this scanner walks the same
 * grammar once more to give every config message a line and column. It checks structure and
 * literal shapes, so it also pinpoints syntax errors; it does not build values.
 */
final class SourceMap {
  private static final Pattern LITERAL =
      Pattern.compile(
          "true|false|null|[+-]?(Infinity|NaN|0[xX][0-9a-fA-F]+|(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d+)?)");

  private final String text;
  private final int[] lineStarts;
  private final Map<String, Integer> offsets = new HashMap<>();

  private SourceMap(String text) {
    this.text = text;
    List<Integer> starts = new ArrayList<>();
    starts.add(0);
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (c == '\n' || (c == '\r' && (i + 1 == text.length() || text.charAt(i + 1) != '\n'))) {
        starts.add(i + 1);
      }
    }
    lineStarts = starts.stream().mapToInt(Integer::intValue).toArray();
  }

  /** Scans {@code text}; throws a {@link SyntaxError} at the first structural error. */
  static SourceMap scan(String text) {
    SourceMap map = new SourceMap(text);
    new Scanner(map).document();
    return map;
  }

  /** The position of the value at {@code path}, or of its nearest ancestor that exists. */
  int[] positionOf(String path) {
    String p = path;
    while (true) {
      Integer offset = offsets.get(p);
      if (offset != null) {
        return position(offset);
      }
      if (p.isEmpty()) {
        return new int[] {0, 0};
      }
      p = parent(p);
    }
  }

  private static String parent(String path) {
    int cut = Math.max(path.lastIndexOf('.'), path.lastIndexOf('['));
    return cut <= 0 ? "" : path.substring(0, cut);
  }

  private int[] position(int offset) {
    int lo = 0;
    int hi = lineStarts.length - 1;
    while (lo < hi) {
      int mid = (lo + hi + 1) >>> 1;
      if (lineStarts[mid] <= offset) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    return new int[] {lo + 1, offset - lineStarts[lo] + 1};
  }

  /** A JSON5 syntax error with its position. */
  static final class SyntaxError extends RuntimeException {
    final int line;
    final int column;

    SyntaxError(String message, int[] position) {
      super(message, null, false, false);
      this.line = position[0];
      this.column = position[1];
    }
  }

  private static final class Scanner {
    private final SourceMap map;
    private final String s;
    private int i;

    Scanner(SourceMap map) {
      this.map = map;
      this.s = map.text;
    }

    void document() {
      skipBlank();
      if (i >= s.length()) {
        throw error("the file is empty: expected a JSON5 object");
      }
      value("");
      skipBlank();
      if (i < s.length()) {
        throw error("unexpected text after the end of the document");
      }
    }

    private void value(String path) {
      skipBlank();
      if (i >= s.length()) {
        throw error("unexpected end of file: expected a value");
      }
      map.offsets.put(path, i);
      char c = s.charAt(i);
      switch (c) {
        case '{' -> object(path);
        case '[' -> array(path);
        case '"', '\'' -> string();
        default -> literal();
      }
    }

    private void object(String path) {
      i++;
      Set<String> keys = new HashSet<>();
      while (true) {
        skipBlank();
        if (peek() == '}') {
          i++;
          return;
        }
        int keyStart = i;
        String key = peek() == '"' || peek() == '\'' ? string() : identifier();
        if (!keys.add(key)) {
          i = keyStart;
          throw error("duplicate key \"" + key + "\"");
        }
        skipBlank();
        expect(':', "expected ':' after key \"" + key + "\"");
        value(JsonPaths.key(path, key));
        skipBlank();
        if (peek() == ',') {
          i++;
        } else if (peek() != '}') {
          throw error("expected ',' or '}' in object");
        }
      }
    }

    private void array(String path) {
      i++;
      int index = 0;
      while (true) {
        skipBlank();
        if (peek() == ']') {
          i++;
          return;
        }
        if (peek() == ',') {
          throw error("empty array element");
        }
        value(JsonPaths.index(path, index++));
        skipBlank();
        if (peek() == ',') {
          i++;
        } else if (peek() != ']') {
          throw error("expected ',' or ']' in array");
        }
      }
    }

    private String string() {
      char quote = s.charAt(i++);
      StringBuilder out = new StringBuilder();
      while (true) {
        if (i >= s.length()) {
          throw error("unterminated string");
        }
        char c = s.charAt(i++);
        if (c == quote) {
          return out.toString();
        }
        if (c == '\n' || c == '\r') {
          i--;
          throw error("line break inside a string (end the string, or escape the line break with '\\')");
        }
        if (c == '\\' && i < s.length()) {
          char e = s.charAt(i++);
          if (e == '\r' && i < s.length() && s.charAt(i) == '\n') {
            i++;
          }
          // The decoded key only matters for duplicate detection, so escapes other than a
          // line continuation are kept as written.
          if (e != '\n' && e != '\r' && e != '\u2028' && e != '\u2029') {
            out.append('\\').append(e);
          }
        } else {
          out.append(c);
        }
      }
    }

    private String identifier() {
      int start = i;
      while (i < s.length()) {
        char c = s.charAt(i);
        if (Character.isLetterOrDigit(c) || c == '_' || c == '$' || c == '\u200C' || c == '\u200D') {
          i++;
        } else {
          break;
        }
      }
      if (i == start || Character.isDigit(s.charAt(start))) {
        i = start;
        throw error("expected a key (a name or a quoted string)");
      }
      return s.substring(start, i);
    }

    private void literal() {
      int start = i;
      while (i < s.length() && ",:]}/ \t\n\r\f\u000B".indexOf(s.charAt(i)) < 0
          && !Character.isSpaceChar(s.charAt(i))) {
        i++;
      }
      String token = s.substring(start, i);
      if (!LITERAL.matcher(token).matches()) {
        i = start;
        throw error(token.isEmpty() ? "expected a value" : "invalid value '" + token + "'");
      }
    }

    private void skipBlank() {
      while (i < s.length()) {
        char c = s.charAt(i);
        if (Character.isWhitespace(c) || Character.isSpaceChar(c) || c == '\uFEFF') {
          i++;
        } else if (s.startsWith("//", i)) {
          while (i < s.length() && s.charAt(i) != '\n' && s.charAt(i) != '\r') {
            i++;
          }
        } else if (s.startsWith("/*", i)) {
          int end = s.indexOf("*/", i + 2);
          if (end < 0) {
            throw error("unterminated /* comment");
          }
          i = end + 2;
        } else {
          return;
        }
      }
    }

    private char peek() {
      if (i >= s.length()) {
        throw error("unexpected end of file");
      }
      return s.charAt(i);
    }

    private void expect(char c, String message) {
      if (peek() != c) {
        throw error(message);
      }
      i++;
    }

    private SyntaxError error(String message) {
      return new SyntaxError(message, map.position(Math.min(i, s.length())));
    }
  }
}
