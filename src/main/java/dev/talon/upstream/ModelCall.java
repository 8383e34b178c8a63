package dev.talon.upstream;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.settings.ServerSentEventSettings;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.SourceShape;
import org.apache.pekko.stream.stage.AbstractInHandler;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.AsyncCallback;
import org.apache.pekko.stream.stage.GraphStage;
import org.apache.pekko.stream.stage.GraphStageLogic;
import org.apache.pekko.stream.stage.TimerGraphStageLogic;
import org.apache.pekko.util.ByteString;

/**
 * One model call as one stage: it sends the request on the first demand, turns a response that
 * is not an event stream into the call's failure, reads the event stream through a fresh
 * {@link StreamParser}, and keeps the call's two clocks. Every run is a new call, so a source
 * of this stage can be run again (a retry).
 *
 * <p>The clocks: until the first {@link ModelEvent} the call may take {@code firstToken} (a
 * cold model load can take minutes, and some servers say nothing at all meanwhile); after it,
 * any silence of the connection longer than {@code idle} means the stream is dead. Silence is
 * measured on the raw bytes, so keep-alive comments count as life, and a tool call whose
 * arguments are still streaming is not mistaken for a stall.
 *
 * <p>Once the parser says the stream is over the stage stops reading, which releases the
 * connection. A transport failure arrives classified as an {@link UpstreamException}; whatever
 * a chunk yielded before a failure in it is still passed on, so a client sees the text the
 * error followed. (One stage rather than a chain of lazy, flattened and mapped sources: those
 * materialized three streams per call and cost a hop per token each.)
 */
final class ModelCall extends GraphStage<SourceShape<ModelEvent>> {
  private static final String CLOCKS = "clocks";

  /** The HTTP side of a call. */
  interface Exchange {
    /** Sends the request. */
    CompletionStage<HttpResponse> send();

    /** Null for a response whose event stream is to be read; else the call's failure, once its body is read. */
    CompletionStage<UpstreamException> refusal(HttpResponse response);

    /** The request never got a response. */
    UpstreamException unreachable(Throwable failure);
  }

  private final Outlet<ModelEvent> out = Outlet.create("ModelCall.out");
  private final SourceShape<ModelEvent> shape = SourceShape.of(out);
  private final Exchange exchange;
  private final Supplier<StreamParser> parsers;
  private final ServerSentEventSettings limits;
  private final Duration firstToken;
  private final Duration idle;

  /** @param limits the longest line and event accepted ({@code pekko.http.sse}) */
  ModelCall(Exchange exchange, Supplier<StreamParser> parsers, ServerSentEventSettings limits, Duration firstToken,
      Duration idle) {
    this.exchange = exchange;
    this.parsers = parsers;
    this.limits = limits;
    this.firstToken = firstToken;
    this.idle = idle;
  }

  @Override
  public SourceShape<ModelEvent> shape() {
    return shape;
  }

  @Override
  public GraphStageLogic createLogic(Attributes attributes) {
    return new Logic();
  }

  private final class Logic extends TimerGraphStageLogic {
    private final StreamParser parser = parsers.get();
    private final EventStreamReader reader = new EventStreamReader(limits.maxLineSize(), limits.maxEventSize());
    private final AsyncCallback<HttpResponse> responded = createAsyncCallback(this::read);
    private final AsyncCallback<Throwable> failed = createAsyncCallback(this::failStage);
    private Materializer materializer;
    /** Set once the stage has stopped: a response that comes later is discarded, not left holding its connection. */
    private volatile boolean stopped;
    private boolean sent;
    private long sentNanos;
    private SubSinkInlet<ByteString> body;
    private boolean tokenSeen;
    private long lastBytesNanos;
    /** A chunk's events are still going out. */
    private boolean emitting;
    private boolean bodyFinished;
    /**
     * The answer is out and the output complete; what the server still sends after its last event
     * (at least the end of the chunked body) is read and dropped, so that the connection goes back
     * to the pool. Cancelled instead, the body would close the connection, and the next call
     * would open a new one (a TLS handshake, for a hosted model).
     */
    private boolean draining;

    Logic() {
      super(shape);
      setHandler(out, new AbstractOutHandler() {
        @Override
        public void onPull() {
          if (!sent) {
            send();
          } else if (body != null && !body.hasBeenPulled() && !body.isClosed()) {
            body.pull();
          }
        }
      });
    }

    @Override
    public void preStart() {
      materializer = materializer();
    }

    @Override
    public void postStop() {
      stopped = true;
    }

    private void send() {
      sent = true;
      sentNanos = System.nanoTime();
      Duration tick = ClockTick.of(firstToken.compareTo(idle) <= 0 ? firstToken : idle);
      scheduleWithFixedDelay(CLOCKS, tick, tick);
      exchange.send().whenComplete((response, failure) -> {
        if (failure != null) {
          failed.invoke(exchange.unreachable(failure instanceof CompletionException && failure.getCause() != null
              ? failure.getCause() : failure));
        } else if (stopped) {
          response.discardEntityBytes(materializer);
        } else {
          responded.invoke(response);
        }
      });
    }

    private void read(HttpResponse response) {
      CompletionStage<UpstreamException> refusal = exchange.refusal(response);
      if (refusal != null) {
        refusal.whenComplete((failure, e) -> failed.invoke(failure != null ? failure : e));
        return;
      }
      body = new SubSinkInlet<>("ModelCall.body");
      body.setHandler(new AbstractInHandler() {
        @Override
        public void onPush() {
          ByteString bytes = body.grab();
          if (draining) {
            body.pull();
          } else {
            chunk(bytes);
          }
        }

        @Override
        public void onUpstreamFinish() {
          // The end comes without demand: it waits for the events of the last chunk to go out.
          if (draining) {
            completeStage();
          } else if (emitting) {
            bodyFinished = true;
          } else {
            finish(List.of());
          }
        }

        @Override
        public void onUpstreamFailure(Throwable cause) {
          if (draining) { // the answer is whole; only the connection is lost
            completeStage();
          } else {
            failStage(ErrorClassifier.asUpstreamException(cause));
          }
        }
      });
      response.entity().getDataBytes().runWith(body.sink(), subFusingMaterializer());
      if (isAvailable(out)) {
        body.pull();
      }
    }

    private void chunk(ByteString bytes) {
      lastBytesNanos = System.nanoTime();
      List<ModelEvent> events = new ArrayList<>();
      try {
        reader.read(bytes, (type, data) -> {
          events.addAll(parser.onEvent(type, data));
          return !parser.finished();
        });
      } catch (UpstreamException e) {
        failAfter(events, e);
        return;
      } catch (IllegalStateException e) {
        failAfter(events, StreamParser.truncated(e.getMessage()));
        return;
      }
      if (!events.isEmpty()) {
        tokenSeen = true;
      }
      if (parser.finished()) {
        finish(events);
      } else if (events.isEmpty()) {
        body.pull();
      } else {
        emitting = true;
        emitMultiple(out, events.iterator(), () -> {
          emitting = false;
          if (bodyFinished) {
            finish(List.of());
          }
        });
      }
    }

    private void finish(List<ModelEvent> events) {
      List<ModelEvent> last;
      try {
        last = parser.onEnd();
      } catch (UpstreamException e) {
        failAfter(events, e);
        return;
      }
      emitMultiple(out, Stream.concat(events.stream(), last.stream()).iterator(), this::drain);
    }

    private void drain() {
      if (body.isClosed()) {
        completeStage();
        return;
      }
      draining = true;
      setKeepGoing(true);
      complete(out);
      if (!body.hasBeenPulled()) {
        body.pull();
      }
    }

    private void stopReading() {
      if (!body.isClosed()) {
        body.cancel();
      }
    }

    private void failAfter(List<ModelEvent> events, UpstreamException failure) {
      stopReading();
      if (events.isEmpty()) {
        failStage(failure);
      } else {
        emitMultiple(out, events.iterator(), () -> failStage(failure));
      }
    }

    /** Looked at on a {@link ClockTick}, with no timer reset per chunk on the token hot path. */
    @Override
    public void onTimer(Object key) {
      long now = System.nanoTime();
      if (draining) {
        if (now - lastBytesNanos > idle.toNanos()) { // a server that never ends its body keeps no connection
          stopReading();
          completeStage();
        }
      } else if (!tokenSeen && now - sentNanos > firstToken.toNanos()) {
        failStage(new UpstreamException(UpstreamFailure.of(UpstreamFailure.Kind.FIRST_TOKEN_TIMEOUT,
            "no first token within " + seconds(firstToken))));
      } else if (tokenSeen && now - lastBytesNanos > idle.toNanos()) {
        failStage(new UpstreamException(UpstreamFailure.of(UpstreamFailure.Kind.IDLE_TIMEOUT,
            "the stream went silent for " + seconds(Duration.ofNanos(now - lastBytesNanos)) + " (idle timeout "
                + seconds(idle) + ")")));
      }
    }
  }

  private static String seconds(Duration d) {
    return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
  }
}
