package dev.talon.conversation;

import dev.talon.config.Model;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Keeps models that just failed out of later turns for a while: each consecutive failure takes
 * the next step (30 s, 1 min, 5 min by default), a success resets it. Node-local and shared by
 * every conversation on the node.
 */
public final class Cooldowns {
  private record Entry(int failures, Instant until) {}

  private final List<Duration> steps;
  private final Clock clock;
  private final Map<String, Entry> byModel = new ConcurrentHashMap<>();

  public Cooldowns(List<Duration> steps, Clock clock) {
    this.steps = List.copyOf(steps);
    this.clock = clock;
  }

  public void failed(Model model) {
    byModel.compute(model.ref(), (ref, previous) -> {
      int failures = previous == null ? 1 : previous.failures() + 1;
      Duration step = steps.get(Math.min(failures, steps.size()) - 1);
      return new Entry(failures, clock.instant().plus(step));
    });
  }

  public void succeeded(Model model) {
    byModel.remove(model.ref());
  }

  /** When the model's cooldown ends, or null when it is not cooling down. */
  public Instant coolingUntil(Model model) {
    Entry entry = byModel.get(model.ref());
    return entry == null || !entry.until().isAfter(clock.instant()) ? null : entry.until();
  }

  /**
   * The order to try candidates in: those not cooling down, in their order, then the cooling
   * ones by the time their cooldown ends — so when all are cooling, the one that expires first
   * is probed.
   */
  public List<Model> plan(List<Model> candidates) {
    List<Model> ready = new ArrayList<>();
    List<Model> cooling = new ArrayList<>();
    for (Model candidate : candidates) {
      (coolingUntil(candidate) == null ? ready : cooling).add(candidate);
    }
    cooling.sort(Comparator.comparing(m -> {
      Instant until = coolingUntil(m);
      return until == null ? Instant.MIN : until;
    }));
    ready.addAll(cooling);
    return ready;
  }
}
