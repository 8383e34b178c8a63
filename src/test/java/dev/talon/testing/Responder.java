package dev.talon.testing;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.ClassicActorSystemProvider;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.ResponseEntity;
import org.apache.pekko.http.javadsl.model.StatusCode;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.pattern.Patterns;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;

/**
 * Builds the HTTP answer a script asks for on one generation endpoint: status answers, context
 * overflow, fixture replays, streams and non-streaming bodies, each after its scripted delay. Never
 * blocks: delays are scheduled, a stall is a future that never completes.
 */
final class Responder {
  private final ClassicActorSystemProvider system;

  Responder(ClassicActorSystemProvider system) {
    this.system = system;
  }

  CompletionStage<HttpResponse> respond(
      Script script, Request request, Renderer renderer, Runnable onClientClose) {
    if (script.kind == Script.Kind.STATUS) {
      ResponseEntity entity =
          script.bodyIsJson
              ? HttpEntities.create(ContentTypes.APPLICATION_JSON, script.body)
              : HttpEntities.create(ContentTypes.TEXT_PLAIN_UTF8, script.body);
      return after(script.headerDelay, response(script, script.status, entity));
    }
    int promptTokens = request.estimatedTokens();
    if (script.contextWindow > 0 && promptTokens > script.contextWindow) {
      ServerKind shape = script.overflowShape != null ? script.overflowShape : renderer.server();
      JsonNode body = ErrorBodies.contextOverflow(shape, promptTokens, script.contextWindow);
      return after(script.headerDelay, response(script, 400, json(body)));
    }
    if (script.kind == Script.Kind.FIXTURE) {
      if (Fixtures.isJson(script.fixture)) {
        String body = Fixtures.read(script.fixture);
        return after(script.headerDelay, response(script, 200, json(body)));
      }
      List<SseEvent> events = Fixtures.events(script.fixture);
      return stream(script, events, EventStream.Defaults.REPLAY, renderer, onClientClose);
    }
    if (request.streaming()) {
      return stream(script, renderer.events(), renderer.framing(), renderer, onClientClose);
    }
    return nonStreaming(script, renderer);
  }

  private CompletionStage<HttpResponse> stream(
      Script script,
      List<SseEvent> events,
      EventStream.Defaults defaults,
      Renderer renderer,
      Runnable onClientClose) {
    List<SseEvent> errorEvents =
        script.fault == Script.Fault.STREAM_ERROR
            ? renderer.streamError(errorBody(script, renderer))
            : List.of();
    Source<ByteString, ?> body =
        new EventStream(script, defaults).source(events, errorEvents, system, onClientClose);
    ResponseEntity entity =
        HttpEntities.createChunked(MediaTypes.TEXT_EVENT_STREAM.toContentType(), body);
    HttpResponse response =
        response(script, 200, entity).addHeader(RawHeader.create("Cache-Control", "no-cache"));
    return after(script.headerDelay, response);
  }

  /**
   * A server that generates before it answers: the whole token time passes before the headers.
   * Faults act on the body: a stall never answers, a drop cuts the body halfway, a malformed body
   * is its first half, an in-stream error becomes a 500.
   */
  private CompletionStage<HttpResponse> nonStreaming(Script script, Renderer renderer) {
    if (script.fault == Script.Fault.STALL) {
      return new CompletableFuture<>();
    }
    long tokens = renderer.events().stream().filter(SseEvent::token).count();
    Duration delay = script.headerDelay;
    if (tokens > 0) {
      delay = delay.plus(script.firstTokenDelay).plus(script.tokenDelay.multipliedBy(tokens - 1));
    }
    String body = Json.write(renderer.body());
    String half = body.substring(0, body.length() / 2);
    HttpResponse response =
        switch (script.fault) {
          case STREAM_ERROR -> response(script, 500, json(errorBody(script, renderer)));
          case MALFORMED_FRAME -> response(script, 200, json(half));
          case DROP -> {
            // Chunked, as some servers send JSON, so that the connection guard can cut it.
            Source<ByteString, NotUsed> cut =
                Source.from(List.of(ByteString.fromString(half), ConnectionGuard.DROP));
            yield response(
                script, 200, HttpEntities.createChunked(ContentTypes.APPLICATION_JSON, cut));
          }
          default -> response(script, 200, json(body));
        };
    return after(delay, response);
  }

  private static JsonNode errorBody(Script script, Renderer renderer) {
    return script.streamError != null ? script.streamError : renderer.defaultError();
  }

  private static HttpResponse response(Script script, int status, ResponseEntity entity) {
    List<HttpHeader> headers = new ArrayList<>();
    for (Map.Entry<String, String> header : script.headers.entrySet()) {
      headers.add(RawHeader.create(header.getKey(), header.getValue()));
    }
    return HttpResponse.create()
        .withStatus(statusCode(status))
        .withEntity(entity)
        .addHeaders(headers);
  }

  /** Pekko knows no 529 (Anthropic overloaded): unknown codes are made up on the spot. */
  static StatusCode statusCode(int status) {
    return StatusCodes.lookup(status)
        .orElseGet(() -> StatusCodes.custom(status, "Status " + status, ""));
  }

  static ResponseEntity json(JsonNode body) {
    return json(Json.write(body));
  }

  private static ResponseEntity json(String body) {
    return HttpEntities.create(ContentTypes.APPLICATION_JSON, body);
  }

  private CompletionStage<HttpResponse> after(Duration delay, HttpResponse response) {
    if (delay.isZero()) {
      return CompletableFuture.completedFuture(response);
    }
    return Patterns.after(delay, system, () -> CompletableFuture.completedFuture(response));
  }
}
