package dev.talon.upstream;

import java.nio.charset.StandardCharsets;

/**
 * The data of one server-sent event, as the UTF-8 bytes it arrived in: the frames that carry a
 * token are read straight from them, and only the others are decoded into text. Valid only
 * while the event is being handled; the reader reuses the bytes for the next one.
 */
final class EventData {
  private final byte[] bytes;
  private final int length;
  private String text;

  EventData(byte[] bytes, int length) {
    this.bytes = bytes;
    this.length = length;
  }

  byte[] bytes() {
    return bytes;
  }

  int length() {
    return length;
  }

  String text() {
    if (text == null) {
      text = new String(bytes, 0, length, StandardCharsets.UTF_8);
    }
    return text;
  }
}
