package dev.talon.testing;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.ClassicActorSystemProvider;
import org.apache.pekko.japi.function.Creator;
import org.apache.pekko.pattern.Patterns;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;

/**
 * The one place that turns a protocol's events into the bytes of a {@code text/event-stream} body:
 * SSE framing, token pacing and fault injection are the same for every renderer.
 */
final class EventStream {

  /** What a protocol does when the script does not say. */
  record Defaults(boolean done, boolean numbered) {
    /** Replays add nothing to what was recorded. */
    static final Defaults REPLAY = new Defaults(false, false);
  }

  /** A frame sent once {@code after} has completed and then {@code delay} has passed. */
  private record Frame(ByteString bytes, CompletionStage<?> after, Duration delay) {}

  private static final CompletionStage<?> AT_ONCE = CompletableFuture.completedFuture(null);

  private enum Numbering {
    ADD,
    STRIP,
    KEEP
  }

  private final Script script;
  private final boolean eventLines;
  private final boolean done;
  private final Numbering numbering;
  private final String eol;
  private int sequence;

  EventStream(Script script, Defaults defaults) {
    this.script = script;
    this.eventLines = script.eventLines == null || script.eventLines;
    this.done = script.done == null ? defaults.done() : script.done;
    if (script.sequenceNumbers == null) {
      this.numbering = defaults.numbered() ? Numbering.ADD : Numbering.KEEP;
    } else {
      this.numbering = script.sequenceNumbers ? Numbering.ADD : Numbering.STRIP;
    }
    this.eol = script.crlf ? "\r\n" : "\n";
  }

  /**
   * The body for {@code events}, cut by the script's fault; {@code errorEvents} follow the cut when
   * the fault is an in-stream error. {@code onClientClose} runs when the client goes away before
   * the stream ended by itself (a scripted drop is not the client's doing).
   */
  Source<ByteString, NotUsed> source(
      List<SseEvent> events,
      List<SseEvent> errorEvents,
      ClassicActorSystemProvider system,
      Runnable onClientClose) {
    int cut =
        script.fault == Script.Fault.NONE
            ? events.size()
            : cutIndex(events, script.faultAfterTokens);
    List<Frame> frames = new ArrayList<>();
    int tokens = 0;
    for (SseEvent event : events.subList(0, cut)) {
      Duration delay = Duration.ZERO;
      CompletionStage<?> after = AT_ONCE;
      if (event.token()) {
        boolean first = tokens++ == 0;
        delay = first ? script.firstTokenDelay : script.tokenDelay;
        after = first ? script.firstTokenRelease : AT_ONCE;
      }
      frames.add(new Frame(frame(event), after, delay));
    }
    switch (script.fault) {
      case NONE -> addDone(frames);
      case STREAM_ERROR -> {
        errorEvents.forEach(e -> frames.add(new Frame(frame(e), AT_ONCE, Duration.ZERO)));
        addDone(frames);
      }
      case MALFORMED_FRAME ->
          frames.add(
              new Frame(malformed(events.get(Math.min(cut, events.size() - 1))), AT_ONCE, Duration.ZERO));
      case STALL, DROP -> {}
    }

    // Built on demand, i.e. once the connection has taken every frame before: after that point
    // the stream's end is its own doing, whatever the connection does next.
    AtomicBoolean ended = new AtomicBoolean();
    Source<ByteString, NotUsed> ending =
        script.fault == Script.Fault.STALL
            ? Source.never()
            : onDemand(
                () -> {
                  ended.set(true);
                  return script.fault == Script.Fault.DROP
                      ? Source.single(ConnectionGuard.DROP)
                      : Source.empty();
                });

    Source<ByteString, NotUsed> body =
        Source.from(frames).mapAsync(1, frame -> paced(frame, system)).concatLazy(ending);
    if (script.keepAlive != null) {
      ByteString comment = utf8(": keep-alive" + eol + eol);
      body = body.keepAlive(script.keepAlive, () -> comment);
    }
    if (script.writeSize > 0) {
      body =
          body.mapConcat(
              bytes ->
                  bytes == ConnectionGuard.DROP ? List.of(bytes) : pieces(bytes, script.writeSize));
    }
    return body.watchTermination(
        (mat, terminated) -> {
          terminated.whenComplete(
              (ok, failure) -> {
                if (!ended.get()) {
                  onClientClose.run();
                }
              });
          return mat;
        });
  }

  private static Source<ByteString, NotUsed> onDemand(Creator<Source<ByteString, NotUsed>> create) {
    return Source.lazySource(create).mapMaterializedValue(m -> NotUsed.getInstance());
  }

  /**
   * Everything before the token after the first {@code afterTokens}; with fewer, after the last
   * one.
   */
  private static int cutIndex(List<SseEvent> events, int afterTokens) {
    int seen = 0;
    int afterLast = 0;
    for (int i = 0; i < events.size(); i++) {
      if (events.get(i).token()) {
        if (seen == afterTokens) {
          return i;
        }
        seen++;
        afterLast = i + 1;
      }
    }
    return afterLast;
  }

  private static CompletionStage<ByteString> paced(Frame frame, ClassicActorSystemProvider system) {
    return frame.after().thenCompose(released -> frame.delay().isZero()
        ? CompletableFuture.completedFuture(frame.bytes())
        : Patterns.after(frame.delay(), system, () -> CompletableFuture.completedFuture(frame.bytes())));
  }

  private ByteString frame(SseEvent event) {
    if (event.raw() != null) {
      return event.raw();
    }
    ObjectNode data = event.data();
    switch (numbering) {
      case ADD -> data.put("sequence_number", sequence++);
      case STRIP -> data.remove("sequence_number");
      case KEEP -> {}
    }
    String name = eventLines && event.name() != null ? "event: " + event.name() + eol : "";
    return utf8(name + "data: " + Json.write(data) + eol + eol);
  }

  private void addDone(List<Frame> frames) {
    if (done) {
      frames.add(new Frame(utf8("data: [DONE]" + eol + eol), AT_ONCE, Duration.ZERO));
    }
  }

  /** The event as it would be sent, cut in the middle of its data line, then a blank line. */
  private ByteString malformed(SseEvent event) {
    String text = frame(event).utf8String();
    int start = text.lastIndexOf("data: ") + "data: ".length();
    int end = text.indexOf('\n', start);
    int cut = start + ((end < 0 ? text.length() : end) - start) / 2;
    return utf8(text.substring(0, cut) + eol + eol);
  }

  private static List<ByteString> pieces(ByteString bytes, int size) {
    List<ByteString> pieces = new ArrayList<>();
    for (int from = 0; from < bytes.size(); from += size) {
      pieces.add(bytes.slice(from, Math.min(bytes.size(), from + size)));
    }
    return pieces;
  }

  private static ByteString utf8(String text) {
    return ByteString.fromString(text, StandardCharsets.UTF_8);
  }
}
