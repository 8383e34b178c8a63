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
import java.util.function.Function;

/**
 * Keeps models that just failed out of later turns for a while: each consecutive failure takes
 * the next step (30 s, 1 min, 5 min by default), a success resets it. Shared by every
 * conversation on the node; {@link ClusterCooldowns} also shares it with the other nodes, so that
 * one node's discovery that a model is down spares the others.
 *
 * <p>Reads never wait: they see this node's view, which takes this node's changes at once and the
 * other nodes' as they arrive.
 */
public final class Cooldowns {
  /**
   * A model's consecutive failures and the end of its cooldown (epoch millis). A success leaves a
   * cleared entry rather than none, so that it can win over an older failure that another node is
   * still spreading. {@code at} orders changes to the model: it is after the change it replaces
   * even if the clock went back, and the one with the latest {@code at} wins on every node.
   */
  record Entry(int failures, long until, long at) implements JsonSerializable {}

  /** Where this node's own changes go besides its view. */
  interface Sharing {
    void share(String ref, Entry entry);
  }

  private final List<Duration> steps;
  private final Clock clock;
  private final Map<String, Entry> byModel = new ConcurrentHashMap<>();
  private final Sharing sharing;

  /** Cooldowns of this node alone. */
  public Cooldowns(List<Duration> steps, Clock clock) {
    this(steps, clock, view -> (ref, entry) -> {});
  }

  /** @param sharing given the view this node reads, where the node's own changes go */
  Cooldowns(List<Duration> steps, Clock clock, Function<Cooldowns, Sharing> sharing) {
    this.steps = List.copyOf(steps);
    this.clock = clock;
    this.sharing = sharing.apply(this); // last: what it is given is complete but for the sharing itself
  }

  public void failed(Model model) {
    Entry entry = byModel.compute(model.ref(), (ref, previous) -> {
      int failures = previous == null ? 1 : previous.failures() + 1;
      Duration step = steps.get(Math.min(failures, steps.size()) - 1);
      long now = clock.millis();
      return new Entry(failures, now + step.toMillis(), after(previous, now));
    });
    sharing.share(model.ref(), entry);
  }

  public void succeeded(Model model) {
    // Nearly every turn succeeds on a model that never failed: nothing to clear, nothing to tell the
    // cluster. A node that has not heard of another's failure yet leaves it to lapse on its own.
    Entry known = byModel.get(model.ref());
    if (known == null || known.failures() == 0) {
      return;
    }
    Entry cleared = byModel.compute(model.ref(), (ref, previous) -> new Entry(0, 0, after(previous, clock.millis())));
    sharing.share(model.ref(), cleared);
  }

  private static long after(Entry previous, long now) {
    return previous == null ? now : Math.max(now, previous.at() + 1);
  }

  /**
   * Takes in what the cluster knows of each model, unless this node knows of a later change (its
   * own, still on the way); on a tie the cluster's choice stands, so every view settles on it.
   */
  void merge(Map<String, Entry> known) {
    known.forEach((ref, entry) -> byModel.merge(ref, entry, (mine, theirs) -> mine.at() > theirs.at() ? mine : theirs));
  }

  /** When the model's cooldown ends, or null when it is not cooling down. */
  public Instant coolingUntil(Model model) {
    Entry entry = byModel.get(model.ref());
    return entry == null || entry.until() <= clock.millis() ? null : Instant.ofEpochMilli(entry.until());
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
