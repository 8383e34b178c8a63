package dev.talon.testing;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.pekko.util.ByteString;

/**
 * One server-sent event before framing: JSON made by a renderer, or a recorded frame replayed
 * untouched ({@code raw}).
 *
 * @param name the {@code event:} name, or null for data-only frames (chat chunks)
 * @param token whether the event carries model output; pacing and faults count these
 */
record SseEvent(String name, ObjectNode data, ByteString raw, boolean token) {

  /** An event named after its {@code type}, as Responses and Anthropic events are. */
  static SseEvent of(ObjectNode data) {
    return new SseEvent(data.get("type").asText(), data, null, false);
  }

  /** Like {@link #of}, carrying model output. */
  static SseEvent token(ObjectNode data) {
    return new SseEvent(data.get("type").asText(), data, null, true);
  }

  /** A data-only frame, as chat chunks are. */
  static SseEvent unnamed(ObjectNode data, boolean token) {
    return new SseEvent(null, data, null, token);
  }

  static SseEvent raw(ByteString frame) {
    return new SseEvent(null, null, frame, true);
  }
}
