package dev.talon.conversation;

import dev.talon.upstream.ModelRequest;
import dev.talon.upstream.ModelRequest.Part;
import java.util.List;

/**
 * A rough token count, for decisions taken before a server has counted: about four characters a
 * token, and a fixed price per image, whose cost depends on the model and its size.
 */
final class TokenEstimate {
  /** What an image counts for, whatever its size. */
  static final int IMAGE_TOKENS = 2_000;
  private static final int CHARS_PER_TOKEN = 4;

  private TokenEstimate() {}

  static long of(List<ModelRequest.Item> items) {
    return items.stream().mapToLong(TokenEstimate::of).sum();
  }

  static long of(ModelRequest.Item item) {
    if (item instanceof ModelRequest.Message m) {
      return ofParts(m.content());
    }
    if (item instanceof ModelRequest.FunctionCallOutput o) {
      return ofParts(o.content());
    }
    ModelRequest.FunctionCall call = (ModelRequest.FunctionCall) item;
    return chars(call.name().length() + call.arguments().length());
  }

  private static long ofParts(List<Part> parts) {
    return parts.stream().mapToLong(part -> part instanceof ModelRequest.Text t ? chars(t.text().length())
        : IMAGE_TOKENS).sum();
  }

  private static long chars(long count) {
    return (count + CHARS_PER_TOKEN - 1) / CHARS_PER_TOKEN;
  }
}
