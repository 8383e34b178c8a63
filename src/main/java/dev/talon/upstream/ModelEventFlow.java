package dev.talon.upstream;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.apache.pekko.NotUsed;
import org.apache.pekko.http.javadsl.settings.ServerSentEventSettings;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.FlowShape;
import org.apache.pekko.stream.Inlet;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.stage.AbstractInHandler;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.GraphStage;
import org.apache.pekko.stream.stage.GraphStageLogic;
import org.apache.pekko.util.ByteString;

/**
 * Runs a {@link StreamParser} over the bytes of an event stream. Each materialization gets a
 * fresh parser, so a model call's source can be run again (a retry). Once the parser says the
 * stream is over it stops reading, which releases the upstream connection; a transport failure
 * arrives classified as an {@link UpstreamException}.
 */
final class ModelEventFlow extends GraphStage<FlowShape<ByteString, ModelEvent>> {
  private final Inlet<ByteString> in = Inlet.create("ModelEventFlow.in");
  private final Outlet<ModelEvent> out = Outlet.create("ModelEventFlow.out");
  private final FlowShape<ByteString, ModelEvent> shape = FlowShape.of(in, out);
  private final Supplier<StreamParser> parsers;
  private final ServerSentEventSettings limits;

  private ModelEventFlow(Supplier<StreamParser> parsers, ServerSentEventSettings limits) {
    this.parsers = parsers;
    this.limits = limits;
  }

  /** @param limits the longest line and event accepted ({@code pekko.http.sse}) */
  static Flow<ByteString, ModelEvent, NotUsed> parse(Supplier<StreamParser> parsers, ServerSentEventSettings limits) {
    return Flow.fromGraph(new ModelEventFlow(parsers, limits));
  }

  @Override
  public FlowShape<ByteString, ModelEvent> shape() {
    return shape;
  }

  @Override
  public GraphStageLogic createLogic(Attributes attributes) {
    StreamParser parser = parsers.get();
    EventStreamReader reader = new EventStreamReader(limits.maxLineSize(), limits.maxEventSize());
    return new GraphStageLogic(shape) {
      /** A chunk's events are still going out. */
      private boolean emitting;
      private boolean upstreamFinished;

      {
        setHandler(in, new AbstractInHandler() {
          @Override
          public void onPush() {
            List<ModelEvent> events = new ArrayList<>();
            try {
              reader.read(grab(in), (type, data) -> {
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
            if (parser.finished()) {
              finish(events);
            } else if (events.isEmpty()) {
              pull(in);
            } else {
              emitting = true;
              emitMultiple(out, events.iterator(), () -> {
                emitting = false;
                if (upstreamFinished) {
                  finish(List.of());
                }
              });
            }
          }

          @Override
          public void onUpstreamFinish() {
            // The end comes without demand: it waits for the events of the last chunk to go out.
            if (emitting) {
              upstreamFinished = true;
            } else {
              finish(List.of());
            }
          }

          @Override
          public void onUpstreamFailure(Throwable cause) {
            failStage(ErrorClassifier.asUpstreamException(cause));
          }
        });
        setHandler(out, new AbstractOutHandler() {
          @Override
          public void onPull() {
            if (!hasBeenPulled(in)) {
              pull(in);
            }
          }
        });
      }

      /** What the chunk yielded before the failure is still told: a client sees the text the error followed. */
      private void failAfter(List<ModelEvent> events, UpstreamException failure) {
        cancel(in);
        if (events.isEmpty()) {
          failStage(failure);
        } else {
          emitMultiple(out, events.iterator(), () -> failStage(failure));
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
        cancel(in);
        emitMultiple(out, java.util.stream.Stream.concat(events.stream(), last.stream()).iterator(), this::completeStage);
      }
    };
  }
}
