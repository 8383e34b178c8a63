package dev.talon.testing;

import com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.pekko.util.ByteString;

/**
 * One server-sent event before framing: a named JSON event made by a renderer, or a recorded frame
 * replayed untouched ({@code raw}).
 *
 * @param name the {@code event:} name, or null for data-only frames (chat chunks)
 * @param token whether the event carries model output; pacing and faults count these
 */
record SseEvent(String name, ObjectNode data, ByteString raw, boolean token) {

  static SseEvent event(String name, ObjectNode data) {
    return new SseEvent(name, data, null, false);
  }

  static SseEvent token(String name, ObjectNode data) {
    return new SseEvent(name, data, null, true);
  }

  static SseEvent raw(ByteString frame) {
    return new SseEvent(null, null, frame, true);
  }
}
