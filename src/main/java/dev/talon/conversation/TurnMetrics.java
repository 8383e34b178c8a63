package dev.talon.conversation;

import dev.talon.upstream.UpstreamFailure;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/** Node-wide counters of turns and upstream faults, for logs and a metrics endpoint. */
public final class TurnMetrics {
  public final LongAdder turnsCompleted = new LongAdder();
  public final LongAdder turnsFailed = new LongAdder();
  public final LongAdder attempts = new LongAdder();
  public final LongAdder failovers = new LongAdder();
  private final Map<UpstreamFailure.Kind, LongAdder> faults = new EnumMap<>(UpstreamFailure.Kind.class);

  public TurnMetrics() {
    for (UpstreamFailure.Kind kind : UpstreamFailure.Kind.values()) {
      faults.put(kind, new LongAdder());
    }
  }

  void fault(UpstreamFailure.Kind kind) {
    faults.get(kind).increment();
  }

  public long faults(UpstreamFailure.Kind kind) {
    return faults.get(kind).sum();
  }
}
