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
 * of a general-purpose unmarshaller, on every token; the data stays bytes, which a parser reads
 * faster than the same text.
 *
 * <p>Not thread-safe: one reader per response.
 */
final class EventStreamReader {
  /** Receives each complete event; returns false to stop reading (the stream is over). */
  interface Listener {
    boolean onEvent(String eventType, EventData data);
  }

  private final int maxLineBytes;
  private final int maxEventBytes;
  private byte[] pending = new byte[1024];
  private int pendingLength;
  /** The last line ended with CR: an LF that follows it belongs to that line end. */
  private boolean afterCr;
  private String eventType;
  /** The event's data lines so far, joined; {@code dataLength} is -1 while it has none. */
  private byte[] data = new byte[256];
  private int dataLength = -1;
  private int eventBytes;

  EventStreamReader(int maxLineBytes, int maxEventBytes) {
    this.maxLineBytes = maxLineBytes;
    this.maxEventBytes = maxEventBytes;
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
      int from = valueStart(start + 4, end);
      if (from < end) {
        addData(from, end);
      }
    } else if (hasField(start, end, "event")) {
      int from = valueStart(start + 5, end);
      if (from < end) {
        eventType = new String(pending, from, end - from, StandardCharsets.UTF_8);
        eventBytes += end - from;
      }
    }
    // comments (":…"), id, retry and unknown fields mean nothing to a model stream
    if (eventBytes > maxEventBytes) {
      throw new IllegalStateException("an event-stream event is longer than " + maxEventBytes
          + " bytes (pekko.http.sse.max-event-size)");
    }
    return true;
  }

  private boolean dispatch(Listener listener) {
    String type = eventType;
    int length = dataLength;
    eventType = null;
    dataLength = -1;
    eventBytes = 0;
    return length < 0 || listener.onEvent(type, new EventData(data, length));
  }

  /** Appends the value in {@code pending[from, end)} to the event's data, after a newline if it has some. */
  private void addData(int from, int end) {
    int separator = dataLength < 0 ? 0 : 1;
    int start = Math.max(dataLength, 0) + separator;
    int needed = start + end - from;
    if (needed > data.length) {
      data = Arrays.copyOf(data, Math.max(needed, data.length * 2));
    }
    if (separator == 1) {
      data[dataLength] = '\n';
    }
    System.arraycopy(pending, from, data, start, end - from);
    dataLength = needed;
    eventBytes += end - from;
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

  /** Where the value after the colon at {@code colon} starts: past one leading space. */
  private int valueStart(int colon, int end) {
    int from = colon + 1;
    return from < end && pending[from] == ' ' ? from + 1 : from;
  }
}
