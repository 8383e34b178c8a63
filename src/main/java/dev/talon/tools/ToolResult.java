package dev.talon.tools;

/**
 * What a tool call gave back, as text for the model.
 *
 * @param text the result as text, cut after the configured number of characters with a note of
 *     how much there was
 * @param error the server reports that the tool failed (the text says how): the model should
 *     see it as a tool error, which it may correct
 * @param fullChars the length of the whole result before it was cut
 * @param truncated whether it was cut
 */
public record ToolResult(String server, String tool, String text, boolean error, int fullChars, boolean truncated) {

  /** {@code full} cut after {@code maxChars} characters (never inside a surrogate pair), noting the full length. */
  static ToolResult of(String server, String tool, String full, boolean error, int maxChars) {
    if (full.length() <= maxChars) {
      return new ToolResult(server, tool, full, error, full.length(), false);
    }
    int end = Character.isHighSurrogate(full.charAt(maxChars - 1)) ? maxChars - 1 : maxChars;
    String kept = full.substring(0, end) + "\n[truncated: the first " + end + " of " + full.length()
        + " characters]";
    return new ToolResult(server, tool, kept, error, full.length(), true);
  }
}
