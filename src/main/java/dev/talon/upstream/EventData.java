package dev.talon.upstream;

import java.nio.charset.StandardCharsets;

/**
 * The data of one server-sent event, as the UTF-8 bytes it arrived in ({@code length} of them from
 * the start of {@code bytes}): the frames that carry a token are read straight from them, and only
 * the others are decoded into text. Valid only while the event is being handled; the reader reuses
 * the bytes for the next one.
 */
record EventData(byte[] bytes, int length) {

  /** The data decoded: each parser does so at most once per event, for the frames its fast path leaves. */
  String text() {
    return new String(bytes, 0, length, StandardCharsets.UTF_8);
  }
}
