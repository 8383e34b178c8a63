package dev.talon.upstream;

import java.time.Duration;
import java.util.concurrent.TimeoutException;
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
import org.apache.pekko.util.ByteString;

/**
 * The two clocks of one model call. Until the first {@link ModelEvent} the call may take
 * {@code firstToken} (a cold model load can take minutes, and some servers say nothing at all
 * meanwhile); after it, any silence of the connection longer than {@code idle} means the stream
 * is dead. Silence is measured on the raw bytes, so keep-alive comments count as life, and a
 * tool call whose arguments are still streaming is not mistaken for a stall.
 */
final class CallTimeouts {
  private final Duration firstToken;
  private final Duration idle;
  private volatile boolean tokenSeen;
  private volatile long lastBytesNanos = System.nanoTime();

  CallTimeouts(Duration firstToken, Duration idle) {
    this.firstToken = firstToken;
    this.idle = idle;
  }

  /** Goes on the response bytes: records when they last moved, and fails the call on an idle gap. */
  Flow<ByteString, ByteString, NotUsed> onBytes() {
    return Flow.fromGraph(new IdleWatch());
  }

  /** Goes on the parsed events: fails the call when no first event arrives in time. */
  Flow<ModelEvent, ModelEvent, NotUsed> onEvents() {
    return Flow.<ModelEvent>create()
        .initialTimeout(firstToken)
        .map(event -> {
          if (!tokenSeen) {
            tokenSeen = true;
            lastBytesNanos = System.nanoTime();
          }
          return event;
        })
        .mapError(TimeoutException.class, e -> new UpstreamException(UpstreamFailure.of(
            UpstreamFailure.Kind.FIRST_TOKEN_TIMEOUT, "no first token within " + seconds(firstToken))));
  }

  private static String seconds(Duration d) {
    return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() + " ms";
  }

  private final class IdleWatch extends GraphStage<FlowShape<ByteString, ByteString>> {
    private final Inlet<ByteString> in = Inlet.create("CallTimeouts.in");
    private final Outlet<ByteString> out = Outlet.create("CallTimeouts.out");
    private final FlowShape<ByteString, ByteString> shape = FlowShape.of(in, out);

    @Override
    public FlowShape<ByteString, ByteString> shape() {
      return shape;
    }

    @Override
    public GraphStageLogic createLogic(Attributes attributes) {
      return new TimerGraphStageLogic(shape) {
        {
          setHandler(in, new AbstractInHandler() {
            @Override
            public void onPush() {
              lastBytesNanos = System.nanoTime();
              push(out, grab(in));
            }
          });
          setHandler(out, new AbstractOutHandler() {
            @Override
            public void onPull() {
              pull(in);
            }
          });
        }

        @Override
        public void preStart() {
          // Checking a few times per idle period bounds the detection delay to idle * 1.25
          // without a timer reset per chunk on the token hot path.
          Duration tick = idle.dividedBy(4);
          scheduleWithFixedDelay("idle", tick.isZero() ? Duration.ofMillis(1) : tick,
              tick.isZero() ? Duration.ofMillis(1) : tick);
        }

        @Override
        public void onTimer(Object key) {
          long silentNanos = System.nanoTime() - lastBytesNanos;
          if (tokenSeen && silentNanos > idle.toNanos()) {
            failStage(new UpstreamException(UpstreamFailure.of(UpstreamFailure.Kind.IDLE_TIMEOUT,
                "the stream went silent for " + seconds(Duration.ofNanos(silentNanos)) + " (idle timeout "
                    + seconds(idle) + ")")));
          }
        }
      };
    }
  }
}
