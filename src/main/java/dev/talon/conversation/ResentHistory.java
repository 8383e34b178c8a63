package dev.talon.conversation;

import dev.talon.upstream.ModelRequest;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * Stateless clients (OpenClaw, most Chat Completions clients) resend their whole history every
 * turn, also under a session key. Appended as a whole, it would reach the model twice, the
 * conversation's copy and the client's; so a turn whose items begin with the conversation's whole
 * history brings only the items after it.
 *
 * <p>The conversation does not hold its whole history in memory (compaction folds old turns into
 * a summary), so it keeps a fingerprint of it instead: how many items the model has been shown
 * over the conversation's life, and a hash chained over them in order.
 *
 * @param items how many items the history holds
 * @param digest the chained SHA-256 of those items, hex; empty for no items
 */
public record ResentHistory(long items, String digest) implements JsonSerializable {
  public static final ResentHistory EMPTY = new ResentHistory(0, "");

  /** The history with {@code more} items after it. */
  ResentHistory with(List<ModelRequest.Item> more) {
    if (more.isEmpty()) {
      return this;
    }
    byte[] chained = digest.isEmpty() ? new byte[0] : HexFormat.of().parseHex(digest);
    for (ModelRequest.Item item : more) {
      MessageDigest sha = sha256();
      sha.update(chained);
      sha.update(canonical(item));
      chained = sha.digest();
    }
    return new ResentHistory(items + more.size(), HexFormat.of().formatHex(chained));
  }

  /**
   * The items of {@code request} that the history does not hold yet: those after it when the
   * request begins with all of it and has more, else the whole request. Only a request longer
   * than the history is hashed, so a client that sends just its new message costs nothing.
   */
  List<InputItem> newItems(List<InputItem> request) {
    if (items == 0 || request.size() <= items) {
      // Nothing after the history: the client says again what it said, which is new input.
      return request;
    }
    List<InputItem> head = request.subList(0, (int) items);
    ResentHistory sent = EMPTY.with(head.stream().map(InputItem::toModelItem).toList());
    return sent.equals(this) ? List.copyOf(request.subList((int) items, request.size())) : request;
  }

  /**
   * An item's identity for the chain. A call id names one call; clients parse a call's arguments
   * and serialise them again in their own spacing, so the arguments are left out.
   */
  private static byte[] canonical(ModelRequest.Item item) {
    StringBuilder out = new StringBuilder();
    if (item instanceof ModelRequest.Message message) {
      fields(out, "message", message.role().name());
      parts(out, message.content());
    } else if (item instanceof ModelRequest.FunctionCall call) {
      fields(out, "call", call.callId(), call.name());
    } else {
      ModelRequest.FunctionCallOutput output = (ModelRequest.FunctionCallOutput) item;
      fields(out, "output", output.callId());
      parts(out, output.content());
    }
    return out.toString().getBytes(StandardCharsets.UTF_8);
  }

  private static void parts(StringBuilder out, List<ModelRequest.Part> parts) {
    for (ModelRequest.Part part : parts) {
      if (part instanceof ModelRequest.Text text) {
        fields(out, "text", text.text());
      } else {
        ModelRequest.Image image = (ModelRequest.Image) part;
        fields(out, "image", image.url(), String.valueOf(image.detail()));
      }
    }
  }

  /** Length-prefixed, so that no two different items write the same bytes. */
  private static void fields(StringBuilder out, String... values) {
    for (String value : values) {
      out.append(value.length()).append(':').append(value);
    }
  }

  static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every JVM has SHA-256", e);
    }
  }
}
