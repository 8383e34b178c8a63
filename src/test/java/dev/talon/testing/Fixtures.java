package dev.talon.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.util.ByteString;

/** Reads the recorded upstream traffic of {@link TestResources#upstreamFixture}. */
final class Fixtures {
  private Fixtures() {}

  static String read(Path file) {
    try {
      return Files.readString(file);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static boolean isJson(Path file) {
    String name = file.getFileName().toString();
    return name.endsWith(".json") && !name.endsWith(".jsonl");
  }

  /**
   * A stream fixture as events: {@code .sse} cut after each blank line into raw frames (their
   * concatenation is the file, byte for byte); {@code .jsonl} one event per line, named by its
   * {@code type} when it has one.
   */
  static List<SseEvent> events(Path file) {
    try {
      return file.getFileName().toString().endsWith(".sse")
          ? rawFrames(ByteString.fromArray(Files.readAllBytes(file)))
          : jsonLines(Files.readAllLines(file));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static List<SseEvent> rawFrames(ByteString file) {
    List<SseEvent> frames = new ArrayList<>();
    int start = 0;
    for (int i = 0; i < file.size(); i++) {
      if (endsBlankLine(file, i)) {
        frames.add(SseEvent.raw(file.slice(start, i + 1)));
        start = i + 1;
      }
    }
    if (start < file.size()) {
      frames.add(SseEvent.raw(file.slice(start, file.size())));
    }
    return frames;
  }

  /** True at the last byte of "\n\n" or "\r\n\r\n". */
  private static boolean endsBlankLine(ByteString bytes, int i) {
    if (bytes.apply(i) != '\n' || i == 0) {
      return false;
    }
    int previous = bytes.apply(i - 1) == '\r' ? i - 2 : i - 1;
    return previous >= 0 && bytes.apply(previous) == '\n';
  }

  private static List<SseEvent> jsonLines(List<String> lines) {
    List<SseEvent> events = new ArrayList<>();
    for (String line : lines) {
      if (line.isBlank()) {
        continue;
      }
      JsonNode data = Json.parse(line);
      String type = data.path("type").isTextual() ? data.get("type").asText() : null;
      events.add(new SseEvent(type, (ObjectNode) data, null, true));
    }
    return events;
  }
}
