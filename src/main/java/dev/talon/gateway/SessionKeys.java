package dev.talon.gateway;

import java.util.regex.Pattern;

/**
 * What a session key may be. A key names a conversation's journal entry (a 255-character
 * column, with the entity type in front), travels in an HTTP header and in a URL path segment,
 * and is echoed back in a header: so it is short, printable ASCII, and free of anything a path or
 * a header would change. A bad key is refused before it reaches a conversation.
 */
final class SessionKeys {
  /** Leaves room for the journal's {@code Conversation|} prefix within its 255-character ids. */
  static final int MAX_LENGTH = 200;
  private static final String ALPHABET = "A-Z a-z 0-9 . _ : @ + = -";
  private static final Pattern VALID = Pattern.compile("[A-Za-z0-9._:@+=-]{1," + MAX_LENGTH + "}");

  private SessionKeys() {}

  /**
   * {@code key} if it is a valid session key, else a 400 naming where it came from.
   *
   * @param param the request field the key came from, or null when it is not a body field
   * @param source how the client sent it: "the x-talon-session-key header", "the path", ...
   */
  static String checked(String key, String param, String source) {
    if (VALID.matcher(key).matches()) {
      return key;
    }
    throw ApiError.badRequest(param, "Invalid session key in " + source + ": " + problem(key)
        + "; a session key is 1 to " + MAX_LENGTH + " characters of " + ALPHABET + ".");
  }

  private static String problem(String key) {
    if (key.isEmpty()) {
      return "it is empty";
    }
    if (key.length() > MAX_LENGTH) {
      return "it is " + key.length() + " characters long";
    }
    int bad = key.codePoints().filter(c -> !VALID.matcher(Character.toString(c)).matches()).findFirst().orElseThrow();
    return "it contains the character U+" + String.format("%04X", bad);
  }
}
