package dev.talon.testing;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;

/**
 * One wire protocol's rendering of a {@link Script} for one {@link Request}. Renderers only shape
 * JSON; pacing, framing and faults are {@link EventStream}'s, the HTTP side {@link Responder}'s.
 */
interface Renderer {

  /** The complete stream of a successful answer, tokens flagged, terminal event included. */
  List<SseEvent> events();

  /** The events that report {@code errorBody} in-stream (after HTTP 200). */
  List<SseEvent> streamError(JsonNode errorBody);

  /** The non-streaming answer. */
  JsonNode body();

  /** The body of a scripted in-stream error when the script names none. */
  JsonNode defaultError();

  /** Whose context-overflow body this endpoint answers with by default. */
  ServerKind server();

  EventStream.Defaults framing();

  /**
   * The error object inside an {@link ErrorBodies} shape: {@code body.error}, else the body itself.
   */
  static JsonNode errorObject(JsonNode body) {
    return body.has("error") ? body.get("error") : body;
  }
}
