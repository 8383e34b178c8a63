package dev.talon.upstream;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;
import java.util.Set;

/**
 * The frames that make up nearly all of a long stream, read token by token instead of as a tree,
 * which saves a node for every field of every frame. Each reader returns null for any frame
 * it does not fully understand, malformed ones included; the caller then reads that frame as a
 * tree, so an unusual frame means exactly what it always meant, and fails as it always failed.
 */
final class FastFrames {
  private static final JsonFactory FACTORY = UpstreamJson.MAPPER.getFactory();

  /** A Chat Completions chunk whose one choice carries at most answer text and a finish reason. */
  record ChatContent(String content, String finishReason) {}

  /** A Responses event that carries nothing but a piece of text. */
  record TypedDelta(String type, String delta) {}

  /**
   * Fields of a chat delta that mean something when they hold a value; as null, the tree reading
   * ignores them too (DeepSeek sends {@code reasoning_content: null} with every answer token).
   */
  private static final Set<String> MEANINGFUL_DELTA_FIELDS =
      Set.of("reasoning_content", "reasoning", "reasoning_details", "tool_calls", "function_call");

  private FastFrames() {}

  /**
   * The chunk, if it is one choice with a delta of {@code role}/{@code content} only, a string or
   * null {@code finish_reason}, no {@code error}, no {@code usage} object, and no other field that
   * holds an object or an array.
   */
  static ChatContent chatContent(EventData data) {
    try (JsonParser parser = FACTORY.createParser(data.bytes(), 0, data.length())) {
      if (parser.nextToken() != JsonToken.START_OBJECT) {
        return null;
      }
      ChatContent chunk = null;
      while (parser.nextToken() == JsonToken.FIELD_NAME) {
        String field = parser.currentName();
        JsonToken value = parser.nextToken();
        switch (field) {
          case "choices" -> {
            if (chunk != null || value != JsonToken.START_ARRAY || (chunk = onlyChoice(parser)) == null) {
              return null;
            }
          }
          case "error" -> {
            return null;
          }
          case "usage" -> {
            if (value != JsonToken.VALUE_NULL) {
              return null;
            }
          }
          default -> {
            if (value.isStructStart()) {
              return null;
            }
          }
        }
      }
      return parser.currentToken() == JsonToken.END_OBJECT ? chunk : null;
    } catch (IOException e) {
      return null;
    }
  }

  /** After {@code "choices": [}: the one choice, if it is the only one and simple. */
  private static ChatContent onlyChoice(JsonParser parser) throws IOException {
    if (parser.nextToken() != JsonToken.START_OBJECT) {
      return null;
    }
    boolean delta = false;
    String content = null;
    String finishReason = null;
    while (parser.nextToken() == JsonToken.FIELD_NAME) {
      String field = parser.currentName();
      JsonToken value = parser.nextToken();
      switch (field) {
        case "delta" -> {
          if (delta || (value != JsonToken.START_OBJECT && value != JsonToken.VALUE_NULL)) {
            return null;
          }
          delta = true;
          if (value == JsonToken.START_OBJECT) {
            Content read = deltaContent(parser);
            if (read == null) {
              return null;
            }
            content = read.text();
          }
        }
        case "finish_reason" -> {
          if (value != JsonToken.VALUE_STRING && value != JsonToken.VALUE_NULL) {
            return null;
          }
          finishReason = value == JsonToken.VALUE_STRING ? parser.getText() : null;
        }
        default -> {
          if (value.isStructStart()) {
            return null;
          }
        }
      }
    }
    return parser.nextToken() == JsonToken.END_ARRAY ? new ChatContent(content, finishReason) : null;
  }

  /** The text of a delta, which may be none. */
  private record Content(String text) {}

  /** After {@code "delta": {}: its content, or null if the delta holds more than role and content. */
  private static Content deltaContent(JsonParser parser) throws IOException {
    String content = null;
    while (parser.nextToken() == JsonToken.FIELD_NAME) {
      String field = parser.currentName();
      JsonToken value = parser.nextToken();
      if (field.equals("content")) {
        if (value != JsonToken.VALUE_STRING && value != JsonToken.VALUE_NULL) {
          return null;
        }
        content = value == JsonToken.VALUE_STRING ? parser.getText() : null;
      } else if (value.isStructStart() || (value != JsonToken.VALUE_NULL && MEANINGFUL_DELTA_FIELDS.contains(field))) {
        return null;
      }
    }
    return new Content(content);
  }

  /**
   * The event, if its {@code type} is one of {@code types}, its {@code delta} is a string and it
   * has no {@code error}. Its other fields are skipped, whatever they hold: the tree reading looks
   * at nothing else of such an event ({@code logprobs} and {@code obfuscation} come with each one).
   */
  static TypedDelta typedDelta(EventData data, Set<String> types) {
    try (JsonParser parser = FACTORY.createParser(data.bytes(), 0, data.length())) {
      if (parser.nextToken() != JsonToken.START_OBJECT) {
        return null;
      }
      String type = null;
      String delta = null;
      while (parser.nextToken() == JsonToken.FIELD_NAME) {
        String field = parser.currentName();
        JsonToken value = parser.nextToken();
        switch (field) {
          case "type" -> {
            // Mostly the first field: any other event is left to the tree before reading further.
            if (value != JsonToken.VALUE_STRING || !types.contains(type = parser.getText())) {
              return null;
            }
          }
          case "delta" -> {
            if (value != JsonToken.VALUE_STRING) {
              return null;
            }
            delta = parser.getText();
          }
          case "error" -> {
            return null;
          }
          default -> parser.skipChildren();
        }
      }
      return parser.currentToken() == JsonToken.END_OBJECT && type != null && delta != null
          ? new TypedDelta(type, delta) : null;
    } catch (IOException e) {
      return null;
    }
  }
}
