package dev.talon.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import org.apache.pekko.util.ByteString;

/** Server-sent events as the gateway writes them. */
final class Sse {
  private Sse() {}

  /** @param event the {@code event:} name, or null for an event of data alone */
  static String text(String event, String data) {
    return (event == null ? "" : "event: " + event + "\n") + "data: " + data + "\n\n";
  }

  static String text(String event, JsonNode data) {
    return text(event, Json.text(data));
  }

  static ByteString bytes(String event, JsonNode data) {
    return ByteString.fromString(text(event, data));
  }
}
