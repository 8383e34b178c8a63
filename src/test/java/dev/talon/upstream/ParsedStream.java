package dev.talon.upstream;

import dev.talon.config.Api;
import dev.talon.testing.TestResources;
import dev.talon.upstream.ModelEvent.Completed;
import dev.talon.upstream.ModelEvent.ReasoningDelta;
import dev.talon.upstream.ModelEvent.TextDelta;
import dev.talon.upstream.ModelEvent.ToolCall;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.settings.ServerSentEventSettings;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;

/** A stream body read by the stage that runs a model call, from an in-memory response, summed up for assertions. */
record ParsedStream(List<ModelEvent> events, UpstreamException failure) {

  /** A recorded fixture, see {@link #fixtureBody}. */
  static ParsedStream ofFixture(ActorSystem<?> system, String name, Api api, int chunkSize) throws Exception {
    return of(system, fixtureBody(name), api, chunkSize);
  }

  /** A recorded fixture as an SSE body: .sse as recorded, .chunks.jsonl re-framed with event: lines. */
  static byte[] fixtureBody(String name) throws Exception {
    byte[] body = Files.readAllBytes(TestResources.upstreamFixture(name));
    if (!name.endsWith(".chunks.jsonl")) {
      return body;
    }
    StringBuilder sse = new StringBuilder();
    for (String line : new String(body, StandardCharsets.UTF_8).split("\n")) {
      if (!line.isBlank()) {
        String type = UpstreamJson.MAPPER.readTree(line).path("type").asText();
        sse.append("event: ").append(type).append("\ndata: ").append(line).append("\n\n");
      }
    }
    return sse.toString().getBytes(StandardCharsets.UTF_8);
  }

  static ParsedStream of(ActorSystem<?> system, String body, Api api) throws Exception {
    return of(system, body.getBytes(StandardCharsets.UTF_8), api, 5);
  }

  /** Splits the body every {@code chunkSize} bytes, mid-line and mid-UTF-8 sequence included. */
  static ParsedStream of(ActorSystem<?> system, byte[] body, Api api, int chunkSize) throws Exception {
    List<ByteString> chunks = new ArrayList<>();
    for (int i = 0; i < body.length; i += chunkSize) {
      chunks.add(ByteString.fromArray(body, i, Math.min(chunkSize, body.length - i)));
    }
    List<ModelEvent> events = new ArrayList<>();
    try {
      HttpResponse response = HttpResponse.create().withEntity(
          HttpEntities.createChunked(MediaTypes.TEXT_EVENT_STREAM.toContentType(), Source.from(chunks)));
      Source.fromGraph(new ModelCall(new ModelCall.Exchange() {
            @Override
            public CompletionStage<HttpResponse> send() {
              return CompletableFuture.completedFuture(response);
            }

            @Override
            public CompletionStage<UpstreamException> refusal(HttpResponse answer) {
              return null;
            }

            @Override
            public UpstreamException unreachable(Throwable failure) {
              throw new AssertionError("an in-memory response cannot be unreachable", failure);
            }
          }, () -> StreamParser.forApi(api, true), ServerSentEventSettings.create(system.classicSystem()),
          Duration.ofSeconds(10), Duration.ofSeconds(10)))
          .runWith(Sink.foreach(events::add), system)
          .toCompletableFuture().get(10, TimeUnit.SECONDS);
      return new ParsedStream(events, null);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof UpstreamException upstream) {
        return new ParsedStream(events, upstream);
      }
      throw e;
    }
  }

  String text() {
    StringBuilder out = new StringBuilder();
    events.stream().filter(e -> e instanceof TextDelta).forEach(e -> out.append(((TextDelta) e).text()));
    return out.toString();
  }

  String reasoning() {
    StringBuilder out = new StringBuilder();
    events.stream().filter(e -> e instanceof ReasoningDelta).forEach(e -> out.append(((ReasoningDelta) e).text()));
    return out.toString();
  }

  List<ToolCall> toolCalls() {
    return events.stream().filter(e -> e instanceof ToolCall).map(e -> (ToolCall) e).toList();
  }

  ModelEvent.Usage usage() {
    return events.stream().filter(e -> e instanceof ModelEvent.Usage).map(e -> (ModelEvent.Usage) e)
        .reduce((a, b) -> b).orElse(null);
  }

  /** The terminal event, which must be the last one and the only one. */
  Completed completed() {
    List<Completed> all = events.stream().filter(e -> e instanceof Completed).map(e -> (Completed) e).toList();
    if (failure != null || all.size() != 1 || events.get(events.size() - 1) != all.get(0)) {
      throw new AssertionError("expected exactly one Completed, last; got " + events + " / " + failure);
    }
    return all.get(0);
  }

  UpstreamFailure.Kind failureKind() {
    if (failure == null) {
      throw new AssertionError("expected a failure, got " + events);
    }
    return failure.failure().kind();
  }
}
