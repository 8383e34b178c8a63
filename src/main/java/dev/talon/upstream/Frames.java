package dev.talon.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;

/** What every stream parser does with an SSE data payload before reading it. */
final class Frames {
  private static final int SHOWN_CHARS = 200;

  private Frames() {}

  /**
   * The payload as JSON, or null for the {@code [DONE]} terminator (both APIs, rule 2). A frame
   * with an error throws; a payload that is not JSON is a broken stream.
   */
  static JsonNode read(String data) {
    if (data.startsWith("[DONE]")) {
      return null;
    }
    JsonNode frame = parse(data);
    throwIfError(frame);
    return frame;
  }

  /** The payload as JSON; a payload that is not JSON is a broken stream. */
  static JsonNode parse(String data) {
    try {
      JsonNode node = UpstreamJson.MAPPER.readTree(data);
      if (node == null || !node.isObject()) {
        throw new IOException("not a JSON object");
      }
      return node;
    } catch (IOException e) {
      throw new UpstreamException(UpstreamFailure.of(UpstreamFailure.Kind.TRUNCATED, "malformed frame: " + shown(data)),
          e);
    }
  }

  /** The start of what a server sent, enough to tell what it was in an error message. */
  static String shown(String sent) {
    return sent.length() > SHOWN_CHARS ? sent.substring(0, SHOWN_CHARS) + "…" : sent;
  }

  /** Any frame with a top-level {@code error} is an error, whatever else it carries (rule 4). */
  static void throwIfError(JsonNode frame) {
    JsonNode error = frame.get("error");
    if (error != null && !error.isNull() && !(error.isTextual() && error.asText().isEmpty())) {
      throw new UpstreamException(ErrorClassifier.fromStreamError(frame));
    }
  }
}
