package dev.talon.testing;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;

/** A minimal SSE splitter for asserting on the fake's output (comments are kept, to be counted). */
record Sse(String event, String data, String comment) {

  static List<Sse> parse(String body) {
    List<Sse> frames = new ArrayList<>();
    for (String block : body.replace("\r\n", "\n").split("\n\n")) {
      String event = null;
      String data = null;
      String comment = null;
      for (String line : block.split("\n")) {
        if (line.startsWith(":")) {
          comment = line.substring(1).trim();
        } else if (line.startsWith("event: ")) {
          event = line.substring(7);
        } else if (line.startsWith("data: ")) {
          data = line.substring(6);
        }
      }
      if (event != null || data != null || comment != null) {
        frames.add(new Sse(event, data, comment));
      }
    }
    return frames;
  }

  /** The data frames only, without comments and {@code [DONE]}. */
  static List<JsonNode> json(String body) {
    return parse(body).stream()
        .filter(f -> f.data() != null && !f.data().equals("[DONE]"))
        .map(f -> Json.parse(f.data()))
        .toList();
  }

  static List<String> types(String body) {
    return json(body).stream().map(j -> j.path("type").asText()).toList();
  }
}
