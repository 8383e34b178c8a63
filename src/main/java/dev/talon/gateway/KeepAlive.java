package dev.talon.gateway;

import dev.talon.upstream.ClockTick;
import java.time.Duration;
import java.util.function.Supplier;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.FlowShape;
import org.apache.pekko.stream.Inlet;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.stage.AbstractInHandler;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.GraphStage;
import org.apache.pekko.stream.stage.GraphStageLogic;
import org.apache.pekko.stream.stage.TimerGraphStageLogic;

/**
 * Sends {@code injected} whenever the client is waiting and nothing has gone out for
 * {@code interval}, as Pekko's {@code keepAlive} does, with a clock that is looked at on a
 * {@link ClockTick} instead of a timer re-armed for every element (one left behind per token).
 */
final class KeepAlive<T> extends GraphStage<FlowShape<T, T>> {
  private static final String TICK = "tick";

  private final Inlet<T> in = Inlet.create("KeepAlive.in");
  private final Outlet<T> out = Outlet.create("KeepAlive.out");
  private final FlowShape<T, T> shape = FlowShape.of(in, out);
  private final Duration interval;
  private final Supplier<T> injected;

  private KeepAlive(Duration interval, Supplier<T> injected) {
    this.interval = interval;
    this.injected = injected;
  }

  static <T> Flow<T, T, NotUsed> of(Duration interval, Supplier<T> injected) {
    return Flow.fromGraph(new KeepAlive<>(interval, injected));
  }

  @Override
  public FlowShape<T, T> shape() {
    return shape;
  }

  @Override
  public GraphStageLogic createLogic(Attributes attributes) {
    return new TimerGraphStageLogic(shape) {
      private long lastSentNanos = System.nanoTime();

      {
        setHandler(in, new AbstractInHandler() {
          @Override
          public void onPush() {
            if (isAvailable(out)) {
              send(grab(in));
            } // else a keep-alive went out meanwhile: the element waits for the next pull
          }

          @Override
          public void onUpstreamFinish() {
            if (!isAvailable(in)) {
              completeStage();
            }
          }
        });
        setHandler(out, new AbstractOutHandler() {
          @Override
          public void onPull() {
            if (isAvailable(in)) {
              send(grab(in));
              if (isClosed(in)) {
                completeStage();
              }
            } else if (!hasBeenPulled(in) && !isClosed(in)) {
              pull(in);
            }
          }
        });
      }

      @Override
      public void preStart() {
        Duration tick = ClockTick.of(interval);
        scheduleWithFixedDelay(TICK, tick, tick);
      }

      @Override
      public void onTimer(Object key) {
        if (isAvailable(out) && !isAvailable(in) && System.nanoTime() - lastSentNanos >= interval.toNanos()) {
          send(injected.get());
        }
      }

      private void send(T element) {
        lastSentNanos = System.nanoTime();
        push(out, element);
      }
    };
  }
}
