package dev.talon.conversation;

import dev.talon.config.Model;
import dev.talon.upstream.UpstreamFailure.Kind;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.Arrays;
import java.util.Collection;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.pekko.japi.Pair;

/**
 * A node's metrics, in the registry {@code GET /metrics} serves: turns and how they ended, model
 * calls, conversations in memory, journal writes. Every label has a bounded set of values, so a
 * client cannot grow the registry: a model is named only when the config or the built-in catalog
 * lists it (a ref a client makes up on a built-in provider counts as {@value #OTHER}), a reason is
 * a failure kind, a trigger one of {@link Compaction}'s.
 */
public final class NodeMetrics {
  /** The label value of a model, kind or trigger outside the known set. */
  static final String OTHER = "other";
  /** The model label of a turn that failed before any model was tried. */
  static final String NONE = "none";
  /** The {@code event} labels of {@link #journaled}. */
  static final String TURN_STARTED = "turn_started";
  static final String TURN_COMPLETED = "turn_completed";

  private static final Set<String> KINDS = Arrays.stream(Kind.values()).map(Kind::name).collect(Collectors.toSet());
  private static final Set<String> TRIGGERS =
      Set.of(Compaction.BUDGET, Compaction.OVERFLOW, Compaction.THRESHOLD, Compaction.MANUAL);
  // A cold local model may take minutes to load: the first-token buckets reach the local timeout's default.
  private static final double[] FIRST_TOKEN_SECONDS = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300};
  private static final double[] TOKENS_PER_SECOND = {1, 2.5, 5, 10, 20, 30, 50, 75, 100, 150, 250, 500};
  private static final double[] JOURNAL_SECONDS = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

  private final PrometheusRegistry registry = new PrometheusRegistry();
  private final Set<String> models;

  private final Counter turnsStarted = counter("talon_turns_started",
      "Turns started (stored or not), by the model tried first.", "model");
  private final Counter turnsCompleted = counter("talon_turns_completed",
      "Turns answered, by the model that answered.", "model");
  private final Counter turnsFailed = counter("talon_turns_failed",
      "Turns that ended without an answer, by the model tried last and the failure kind (CANCELLED: stopped by"
          + " its client or its conversation).", "model", "reason");
  private final Counter calls = counter("talon_model_calls",
      "Calls to models: a turn's attempts, retries and summaries included.", "model");
  private final Counter callFailures = counter("talon_model_call_failures",
      "Calls to models that failed, by failure kind.", "model", "kind");
  private final Counter failovers = counter("talon_failovers",
      "Times a turn or summary moved on from a failed model to the next candidate, by the model left.", "model");
  private final Counter compactions = counter("talon_compactions",
      "Compactions journaled, by trigger (budget, overflow, threshold, manual).", "trigger");
  private final Histogram firstToken = histogram("talon_model_first_token_seconds",
      "Time from a call to a model to its first output (text, reasoning or a tool call).", FIRST_TOKEN_SECONDS,
      "model");
  private final Histogram tokensPerSecond = histogram("talon_model_output_tokens_per_second",
      "Output tokens per second of the calls that answered, from their first output to their end, when the"
          + " model reported its usage.", TOKENS_PER_SECOND, "model");
  private final Histogram journalWrites = histogram("talon_journal_write_seconds",
      "Time from a conversation's persist to the journal's confirmation.", JOURNAL_SECONDS, "event");
  private final Gauge resident = Gauge.builder().name("talon_conversations_resident")
      .help("Conversations in this node's memory (idle ones leave after talon.conversations.passivateAfterSeconds,"
          + " or as their turn ends past talon.conversations.maxResident).")
      .register(registry);

  /** @param models the models named in labels: the catalog's */
  public NodeMetrics(Collection<Model> models) {
    this.models = models.stream().map(Model::ref).collect(Collectors.toUnmodifiableSet());
  }

  /** The registry to scrape; the gateway and the JVM's collectors register into it too. */
  public PrometheusRegistry registry() {
    return registry;
  }

  /**
   * {@code runner} with its turns counted: started, and completed or failed. Only turns pass
   * through it, not summaries, which call their models through the runner itself.
   */
  public TurnRunner counting(TurnRunner runner) {
    // One fused stage per turn: a stage of its own, or a nested materialization, costs every
    // request more than the counting does.
    return (turnId, candidates, view, midStream) -> runner.run(turnId, candidates, view, midStream)
        .statefulMap(TurnCount::new, (count, event) -> {
          count.on(event);
          return Pair.create(count, event);
        }, count -> {
          count.stopped(); // completed, failed or cancelled from downstream
          return Optional.empty();
        });
  }

  /**
   * Counts one turn fed event by event: for a turn of several model calls (one that runs tools),
   * whose calls pass through the runner one by one and would each count as a turn.
   */
  TurnCount countTurn() {
    return new TurnCount();
  }

  /** One turn's progress, for the counters of how it ended. */
  final class TurnCount {
    /** The label of the model the turn is on, once it started. */
    private volatile String model;
    private volatile boolean ended;

    void on(TurnEvent event) {
      if (event instanceof TurnEvent.Started started) {
        model = label(started.model());
        turnsStarted.labelValues(model).inc();
      } else if (event instanceof TurnEvent.ModelSwitched switched) {
        model = label(switched.toModel());
      } else if (event instanceof TurnEvent.Completed completed) {
        ended = true;
        turnsCompleted.labelValues(label(completed.result().model())).inc();
      } else if (event instanceof TurnEvent.Failed failed) {
        ended = true;
        turnsFailed.labelValues(model == null ? NONE : model, KINDS.contains(failed.kind()) ? failed.kind() : OTHER)
            .inc();
      }
    }

    /** The stream ended: a turn that started and has no outcome was stopped from outside. */
    void stopped() {
      if (model != null && !ended) {
        turnsFailed.labelValues(model, Kind.CANCELLED.name()).inc();
      }
    }
  }

  void called(Model model) {
    calls.labelValues(label(model.ref())).inc();
  }

  void callFailed(Model model, Kind kind) {
    callFailures.labelValues(label(model.ref()), kind.name()).inc();
  }

  void failedOver(Model from) {
    failovers.labelValues(label(from.ref())).inc();
  }

  void firstOutput(Model model, long nanos) {
    firstToken.labelValues(label(model.ref())).observe(nanos / 1e9);
  }

  /** A call that answered: {@code tokens} generated in the {@code nanos} since its first output. */
  void generated(Model model, long tokens, long nanos) {
    if (tokens > 0 && nanos > 0) { // a model that reports no usage, or answered in one piece, has no rate
      tokensPerSecond.labelValues(label(model.ref())).observe(tokens / (nanos / 1e9));
    }
  }

  void compacted(String trigger) {
    compactions.labelValues(TRIGGERS.contains(trigger) ? trigger : OTHER).inc();
  }

  /** @param event {@link #TURN_STARTED} or {@link #TURN_COMPLETED}; {@code sinceNanos} when it was handed to the journal */
  void journaled(String event, long sinceNanos) {
    journalWrites.labelValues(event).observe((System.nanoTime() - sinceNanos) / 1e9);
  }

  void conversationStarted() {
    resident.inc();
  }

  /** How many conversations this node holds in memory. */
  long residentConversations() {
    return (long) resident.get();
  }

  void conversationStopped() {
    resident.dec();
  }

  private String label(String ref) {
    return models.contains(ref) ? ref : OTHER;
  }

  private Counter counter(String name, String help, String... labels) {
    return Counter.builder().name(name).help(help).labelNames(labels).register(registry);
  }

  private Histogram histogram(String name, String help, double[] buckets, String label) {
    return Histogram.builder().name(name).help(help).labelNames(label).classicOnly().classicUpperBounds(buckets)
        .register(registry);
  }
}
