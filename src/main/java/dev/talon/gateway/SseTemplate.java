package dev.talon.gateway;

import com.fasterxml.jackson.core.io.JsonStringEncoder;
import java.nio.charset.StandardCharsets;
import org.apache.pekko.util.ByteString;

/**
 * The bytes of an SSE event that, from one token to the next, differs only in a text and,
 * optionally, a number after it. It is cut from the event as {@link Sse} writes it with
 * placeholders in those places, so it has the fields, order and quoting of every other event by
 * construction; filling it in costs the quoting of the text, not building and writing a JSON tree.
 */
final class SseTemplate {
  /** Where the text goes: control characters set it apart from any name a client or model picks. */
  static final String TEXT = "\u0000talon.text\u0000";
  /** Where the number goes, given as this string in place of the number. */
  static final String NUMBER = "\u0000talon.number\u0000";
  private static final JsonStringEncoder QUOTE = JsonStringEncoder.getInstance();
  private static final byte[] NONE = new byte[0];

  private final byte[] head;
  private final byte[] middle;
  private final byte[] tail;
  private final boolean numbered;

  /**
   * @param event the event with {@link #TEXT} as the text and, if it has a number, {@link #NUMBER}
   *     as that; nothing a client or model names may follow the text
   */
  SseTemplate(String event) {
    String text = Json.text(TEXT);
    String number = Json.text(NUMBER);
    // The last one: the text follows every name it could be mistaken for.
    int textAt = event.lastIndexOf(text);
    if (textAt < 0) {
      throw new IllegalArgumentException("no text placeholder in " + event);
    }
    int numberAt = event.indexOf(number, textAt);
    int middleEnd = numberAt < 0 ? event.length() : numberAt;
    // The placeholders' quotes stay: the text is quoted and the number is not.
    head = utf8(event.substring(0, textAt + 1));
    middle = utf8(event.substring(textAt + text.length() - 1, middleEnd));
    tail = numberAt < 0 ? NONE : utf8(event.substring(numberAt + number.length()));
    numbered = numberAt >= 0;
  }

  ByteString fill(String text) {
    if (numbered) {
      throw new IllegalStateException("this template needs a number");
    }
    return fill(text, NONE);
  }

  ByteString fill(String text, int number) {
    if (!numbered) {
      throw new IllegalStateException("this template has no number");
    }
    return fill(text, Integer.toString(number).getBytes(StandardCharsets.US_ASCII));
  }

  private ByteString fill(String text, byte[] digits) {
    // Quoted as characters, then encoded as a whole event is: a lone surrogate becomes '?', as it
    // always did, where quoting straight to UTF-8 would throw.
    byte[] quoted = new String(QUOTE.quoteAsString(text)).getBytes(StandardCharsets.UTF_8);
    byte[] out = new byte[head.length + quoted.length + middle.length + digits.length + tail.length];
    int at = 0;
    for (byte[] part : new byte[][] {head, quoted, middle, digits, tail}) {
      System.arraycopy(part, 0, out, at, part.length);
      at += part.length;
    }
    return ByteString.fromArrayUnsafe(out);
  }

  private static byte[] utf8(String text) {
    return text.getBytes(StandardCharsets.UTF_8);
  }
}
