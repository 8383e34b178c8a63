package dev.talon.upstream;

import java.util.List;
import java.util.function.Supplier;
import org.apache.pekko.NotUsed;
import org.apache.pekko.http.javadsl.model.sse.ServerSentEvent;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.FlowShape;
import org.apache.pekko.stream.Inlet;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.stage.AbstractInHandler;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.GraphStage;
import org.apache.pekko.stream.stage.GraphStageLogic;

/**
 * Runs a {@link StreamParser} over a stream of server-sent events. Each materialization gets a
 * fresh parser, so a model call's source can be run again (a retry). Once the parser says the
 * stream is over it stops reading, which releases the upstream connection; a transport failure
 * arrives classified as an {@link UpstreamException}.
 */
final class ModelEventFlow extends GraphStage<FlowShape<ServerSentEvent, ModelEvent>> {
  private final Inlet<ServerSentEvent> in = Inlet.create("ModelEventFlow.in");
  private final Outlet<ModelEvent> out = Outlet.create("ModelEventFlow.out");
  private final FlowShape<ServerSentEvent, ModelEvent> shape = FlowShape.of(in, out);
  private final Supplier<StreamParser> parsers;

  private ModelEventFlow(Supplier<StreamParser> parsers) {
    this.parsers = parsers;
  }

  static Flow<ServerSentEvent, ModelEvent, NotUsed> parse(Supplier<StreamParser> parsers) {
    return Flow.fromGraph(new ModelEventFlow(parsers));
  }

  @Override
  public FlowShape<ServerSentEvent, ModelEvent> shape() {
    return shape;
  }

  @Override
  public GraphStageLogic createLogic(Attributes attributes) {
    StreamParser parser = parsers.get();
    return new GraphStageLogic(shape) {
      {
        setHandler(in, new AbstractInHandler() {
          @Override
          public void onPush() {
            ServerSentEvent event = grab(in);
            List<ModelEvent> events;
            try {
              events = parser.onEvent(event.getEventType().orElse(null), event.getData());
            } catch (UpstreamException e) {
              failStage(e);
              return;
            }
            if (parser.finished()) {
              finish(events);
            } else if (events.isEmpty()) {
              pull(in);
            } else {
              emitMultiple(out, events.iterator());
            }
          }

          @Override
          public void onUpstreamFinish() {
            finish(List.of());
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

      private void finish(List<ModelEvent> events) {
        List<ModelEvent> last;
        try {
          last = parser.onEnd();
        } catch (UpstreamException e) {
          if (events.isEmpty()) {
            failStage(e);
          } else {
            emitMultiple(out, events.iterator(), () -> failStage(e));
          }
          return;
        }
        cancel(in);
        emitMultiple(out, java.util.stream.Stream.concat(events.stream(), last.stream()).iterator(), this::completeStage);
      }
    };
  }
}
