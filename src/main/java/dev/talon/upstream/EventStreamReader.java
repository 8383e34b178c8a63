package dev.talon.upstream;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.apache.pekko.util.ByteString;

/**
 * Server-sent events from the bytes of a response as they arrive, split anywhere (mid-line, mid
 * UTF-8 sequence). Lines end with LF, CR or CRLF; an empty line ends an event; {@code data:}
 * lines are joined with newlines; {@code event:} names the event; comments and other fields are
 * skipped; an event without data is dropped, as is an unfinished one when the bytes end. Reading
 * the bytes straight into the parser's calls saves the per-event objects and two stream stages
 * of a general-purpose unmarshaller, on every token.
 *
 * <p>Not thread-safe: one reader per response.
 */
final class EventStreamReader {
  /** Receives each complete event; returns false to stop reading (the stream is over). */
  interface Listener {
    boolean onEvent(String eventType, String data);
  }

  private final int maxLineBytes;
  private final int maxEventChars;
  private byte[] pending = new byte[1024];
  private int pendingLength;
  /** The last line ended with CR: an LF that follows it belongs to that line end. */
  private boolean afterCr;
  private String eventType;
  private String data;
  private StringBuilder moreData;
  private int eventChars;

  EventStreamReader(int maxLineBytes, int maxEventChars) {
    this.maxLineBytes = maxLineBytes;
    this.maxEventChars = maxEventChars;
  }

  /**
   * Reads {@code chunk}, calling {@code listener} for each event it completes, until the
   * listener says stop.
   *
   * @return false once the listener said stop
   * @throws IllegalStateException when a line or an event exceeds its limit
   */
  boolean read(ByteString chunk, Listener listener) {
    int needed = pendingLength + chunk.size();
    if (needed > pending.length) {
      pending = Arrays.copyOf(pending, Math.max(needed, pending.length * 2));
    }
    chunk.copyToArray(pending, pendingLength, chunk.size());
    int scanFrom = pendingLength;
    pendingLength = needed;
    int lineStart = 0;
    for (int i = scanFrom; i < pendingLength; i++) {
      byte b = pending[i];
      if (b != '\n' && b != '\r') {
        continue;
      }
      if (b == '\n' && afterCr && i == lineStart) {
        afterCr = false;
        lineStart = i + 1;
        continue;
      }
      afterCr = b == '\r';
      boolean more = line(lineStart, i, listener);
      lineStart = i + 1;
      if (!more) {
        return false;
      }
    }
    pendingLength -= lineStart;
    System.arraycopy(pending, lineStart, pending, 0, pendingLength);
    if (pendingLength > maxLineBytes) {
      throw new IllegalStateException("an event-stream line is longer than " + maxLineBytes
          + " bytes (pekko.http.sse.max-line-size)");
    }
    return true;
  }

  private boolean line(int start, int end, Listener listener) {
    if (start == end) {
      return dispatch(listener);
    }
    if (hasField(start, end, "data")) {
      String value = value(start + 4, end);
      if (!value.isEmpty()) {
        addData(value);
      }
    } else if (hasField(start, end, "event")) {
      String value = value(start + 5, end);
      if (!value.isEmpty()) {
        eventType = value;
        eventChars += value.length();
      }
    }
    // comments (":…"), id, retry and unknown fields mean nothing to a model stream
    if (eventChars > maxEventChars) {
      throw new IllegalStateException("an event-stream event is longer than " + maxEventChars
          + " characters (pekko.http.sse.max-event-size)");
    }
    return true;
  }

  private boolean dispatch(Listener listener) {
    String type = eventType;
    String joined = moreData != null ? moreData.toString() : data;
    eventType = null;
    data = null;
    moreData = null;
    eventChars = 0;
    return joined == null || listener.onEvent(type, joined);
  }

  private void addData(String value) {
    eventChars += value.length();
    if (data == null) {
      data = value;
      return;
    }
    if (moreData == null) {
      moreData = new StringBuilder(data);
    }
    moreData.append('\n').append(value);
  }

  /** The line is {@code name:…}. */
  private boolean hasField(int start, int end, String name) {
    int colon = start + name.length();
    if (colon >= end || pending[colon] != ':') {
      return false;
    }
    for (int i = 0; i < name.length(); i++) {
      if (pending[start + i] != name.charAt(i)) {
        return false;
      }
    }
    return true;
  }

  /** What follows the colon at {@code colon}, less one leading space. */
  private String value(int colon, int end) {
    int from = colon + 1;
    if (from < end && pending[from] == ' ') {
      from++;
    }
    return new String(pending, from, end - from, StandardCharsets.UTF_8);
  }
}
