package dev.talon.compaction;

import dev.talon.upstream.ModelRequest;
import dev.talon.upstream.ModelRequest.Part;
import java.util.List;

/**
 * A rough token count, for decisions taken before a server has counted: about four characters a
 * token, a CJK character a token of its own (tokenizers rarely merge them), and a fixed price per
 * image, whose real cost depends on the model and its size.
 */
public final class TokenEstimate {
  /** What an image counts for, whatever its size. */
  public static final int IMAGE_TOKENS = 2_000;
  private static final int CHARS_PER_TOKEN = 4;

  private TokenEstimate() {}

  public static long of(List<? extends ModelRequest.Item> items) {
    long total = 0;
    for (ModelRequest.Item item : items) {
      total += of(item);
    }
    return total;
  }

  public static long of(ModelRequest.Item item) {
    if (item instanceof ModelRequest.Message m) {
      return ofParts(m.content());
    }
    if (item instanceof ModelRequest.FunctionCallOutput o) {
      return ofParts(o.content());
    }
    ModelRequest.FunctionCall call = (ModelRequest.FunctionCall) item;
    return ofText(call.name()) + ofText(call.arguments());
  }

  /** The instructions, the tools' schemas and the input of {@code request}. */
  public static long of(ModelRequest request) {
    long total = request.instructions() == null ? 0 : ofText(request.instructions());
    for (ModelRequest.Tool tool : request.tools()) {
      total += ofText(tool.name()) + (tool.description() == null ? 0 : ofText(tool.description()))
          + (tool.parameters() == null ? 0 : ofText(tool.parameters().toString()));
    }
    return total + of(request.input());
  }

  public static long ofText(String text) {
    long cjk = 0;
    long other = 0;
    for (int i = 0; i < text.length(); ) {
      int codePoint = text.codePointAt(i);
      if (isCjk(codePoint)) {
        cjk++;
      } else {
        other++;
      }
      i += Character.charCount(codePoint);
    }
    return cjk + (other + CHARS_PER_TOKEN - 1) / CHARS_PER_TOKEN;
  }

  private static long ofParts(List<Part> parts) {
    long total = 0;
    for (Part part : parts) {
      total += part instanceof ModelRequest.Text t ? ofText(t.text()) : IMAGE_TOKENS;
    }
    return total;
  }

  private static boolean isCjk(int codePoint) {
    if (codePoint < 0x1100) { // no counted script starts below Hangul Jamo: skip the script lookup
      return false;
    }
    Character.UnicodeScript script = Character.UnicodeScript.of(codePoint);
    return script == Character.UnicodeScript.HAN || script == Character.UnicodeScript.HIRAGANA
        || script == Character.UnicodeScript.KATAKANA || script == Character.UnicodeScript.HANGUL;
  }
}
