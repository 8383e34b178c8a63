package dev.talon.conversation;

import dev.talon.config.Model;
import dev.talon.config.TalonSettings;
import dev.talon.config.TalonSettings.MidStream;
import dev.talon.upstream.ErrorClassifier;
import dev.talon.upstream.ModelClient;
import dev.talon.upstream.ModelEvent;
import dev.talon.upstream.ModelRequest;
import dev.talon.upstream.UpstreamFailure;
import dev.talon.upstream.UpstreamFailure.Kind;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.SourceShape;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.stage.AbstractInHandler;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.GraphStage;
import org.apache.pekko.stream.stage.GraphStageLogic;
import org.apache.pekko.stream.stage.TimerGraphStageLogic;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a turn over its candidate models. Every decision is taken on the stream that just
 * failed, by the failure's kind: a transient fault is retried on the same model with backoff
 * (honouring Retry-After up to a cap), then the turn moves on in the same tick; a fault that
 * another try would not cure moves on at once. Before each call the turn's {@link ModelView} is
 * compacted if it would not fit the budget of the model about to be called (a fallback may have
 * a smaller window than the primary); a context overflow the model reports compacts harder and
 * retries the same model.
 *
 * <p>When a call fails after it streamed text, that text stands by default
 * ({@link MidStream#CONTINUE}): the next call, on the same model or the next, is asked to go on
 * from where the text stops, and its deltas follow on, so what any client assembles is the
 * journaled answer; the result's parts say which model wrote which span. With
 * {@link MidStream#RESTART} (and always once a tool call was streamed, since a call cannot be
 * continued past it) the next call starts from scratch after a {@link TurnEvent.ModelSwitched}
 * that tells clients to discard what they showed.
 */
public final class FailoverRunner implements TurnRunner {
  private static final Logger log = LoggerFactory.getLogger(FailoverRunner.class);
  /** The timer of a retry's backoff. */
  private static final String BACKOFF = "backoff";

  private final ModelClient client;
  private final Cooldowns cooldowns;
  private final TalonSettings.Failover settings;
  private final CompactionStage compaction = new CompactionStage(this);
  private final NodeMetrics metrics;

  public FailoverRunner(ModelClient client, Cooldowns cooldowns, TalonSettings.Failover settings, NodeMetrics metrics) {
    this.client = client;
    this.cooldowns = cooldowns;
    this.settings = settings;
    this.metrics = metrics;
  }

  /**
   * The runner a Talon node uses: HTTP clients, cooldowns shared with the cluster (the system must
   * be a cluster node), the config's limits.
   */
  public static FailoverRunner standard(org.apache.pekko.actor.ClassicActorSystemProvider system,
      TalonSettings settings, NodeMetrics metrics) {
    Cooldowns cooldowns = ClusterCooldowns.start(org.apache.pekko.actor.typed.javadsl.Adapter.toTyped(
        system.classicSystem()), settings.failover().cooldowns(), java.time.Clock.systemUTC());
    return new FailoverRunner(new dev.talon.upstream.HttpModelClient(system, settings.upstream()), cooldowns,
        settings.failover(), metrics);
  }

  @Override
  public Source<TurnEvent, NotUsed> run(String turnId, List<Model> candidates, ModelView view, MidStream midStream) {
    MidStream mode = midStream != null ? midStream : settings.midStream();
    return Source.fromGraph(new TurnStage(turnId, candidates, view, mode));
  }

  /**
   * A turn as one stage. Each model call and each compaction runs as a substream of it, and the
   * decisions between them are plain method calls. (Composed from lazy and concatenated sources,
   * the same steps materialized five streams per turn, a tenth of a short turn's CPU and most of
   * its garbage.) Each run gets its own state: the plan is made when the turn starts, not when it
   * is built.
   */
  private final class TurnStage extends GraphStage<SourceShape<TurnEvent>> {
    private final Outlet<TurnEvent> out = Outlet.create("Turn.out");
    private final SourceShape<TurnEvent> shape = SourceShape.of(out);
    private final String turnId;
    private final List<Model> candidates;
    private final ModelView view;
    private final MidStream midStream;

    TurnStage(String turnId, List<Model> candidates, ModelView view, MidStream midStream) {
      this.turnId = turnId;
      this.candidates = candidates;
      this.view = view;
      this.midStream = midStream;
    }

    @Override
    public SourceShape<TurnEvent> shape() {
      return shape;
    }

    @Override
    public GraphStageLogic createLogic(Attributes attributes) {
      return new Turn(this);
    }
  }

  /** One run of one turn. */
  private final class Turn extends TimerGraphStageLogic {
    private final Outlet<TurnEvent> out;
    private final String turnId;
    private final List<Model> candidates;
    private final ModelView view;
    private final MidStream midStream;
    /** The candidates in the order they are tried, made on the first demand. */
    private List<Model> plan;
    private final List<Attempt> attempts = new ArrayList<>();
    /** The answer streamed so far that stands: the next call continues it. */
    private String keptText = "";
    private String keptReasoning = "";
    private final List<TurnResult.Part> parts = new ArrayList<>();
    /** Why each candidate was left, in the order tried: the primary's reason is the one to fix first. */
    private final List<String> leftBecause = new ArrayList<>();
    private final long startNanos = System.nanoTime();
    private long firstOutputNanos = -1;
    private int candidate;
    private int retries;
    private int overflowRetries;
    /** How the last compaction of this turn failed, until the turn acts on it. */
    private TurnEvent.Failed compactionFailure;
    /** The model call or compaction running now, if any: pulled when the client asks for more. */
    private SubSinkInlet<?> running;
    /** What follows a backoff, while its timer runs. */
    private Runnable afterBackoff;

    Turn(TurnStage stage) {
      super(stage.shape);
      this.out = stage.out;
      this.turnId = stage.turnId;
      this.candidates = stage.candidates;
      this.view = stage.view;
      this.midStream = stage.midStream;
      setHandler(out, new AbstractOutHandler() {
        @Override
        public void onPull() {
          if (plan == null) {
            start();
          } else if (running != null && !running.hasBeenPulled() && !running.isClosed()) {
            running.pull();
          }
        }
      });
    }

    private void start() {
      plan = cooldowns.plan(candidates);
      if (plan.isEmpty()) {
        finish(failed("no model to try", Kind.UNAVAILABLE));
        return;
      }
      emit(out, new TurnEvent.Started(turnId, plan.get(0).ref()), this::attempt);
    }

    /** The call to the current candidate, after a compaction if the view would not fit it. */
    private void attempt() {
      Model model = plan.get(candidate);
      if (view.fits(model)) {
        call(model);
      } else {
        compactThenCall(model, Compaction.BUDGET);
      }
    }

    /**
     * Compacts the view for {@code model}, then calls it. A summariser that failed fails the turn
     * (the request would not fit); a view that still does not fit moves on to the next candidate.
     */
    private void compactThenCall(Model model, String trigger) {
      SubSinkInlet<TurnEvent> in = new SubSinkInlet<>("compaction");
      in.setHandler(new AbstractInHandler() {
        @Override
        public void onPush() {
          TurnEvent event = in.grab();
          if (event instanceof TurnEvent.Failed failure) {
            compactionFailure = failure;
            relay(in, List.of());
          } else {
            relay(in, List.of(event));
          }
        }

        @Override
        public void onUpstreamFinish() {
          running = null;
          afterCompaction(model);
        }
      });
      runNow(in, compaction.run(view, model, trigger, null, overflowRetries));
    }

    private void afterCompaction(Model model) {
      TurnEvent.Failed failure = compactionFailure;
      compactionFailure = null;
      if (failure != null) {
        attempts.addAll(failure.attempts());
        if (!Kind.CONTEXT_OVERFLOW.name().equals(failure.kind())) {
          finish(failed(failure.reason(), Kind.valueOf(failure.kind())));
          return;
        }
      }
      if (failure == null && view.fits(model)) {
        call(model);
      } else {
        moveOn(model, noLongerFits(model), false);
      }
    }

    private UpstreamFailure noLongerFits(Model model) {
      return UpstreamFailure.of(Kind.CONTEXT_OVERFLOW, "this conversation no longer fits " + model.ref()
          + "'s context even after compaction");
    }

    private void call(Model model) {
      metrics.called(model);
      Call call = new Call(model);
      ModelRequest request = view.request();
      SubSinkInlet<ModelEvent> in = new SubSinkInlet<>("call");
      in.setHandler(new AbstractInHandler() {
        @Override
        public void onPush() {
          List<TurnEvent> events;
          try {
            events = call.onEvent(in.grab());
          } catch (RuntimeException e) {
            in.cancel();
            onUpstreamFailure(e);
            return;
          }
          relay(in, events);
        }

        @Override
        public void onUpstreamFinish() {
          running = null;
          if (call.completed) {
            complete(out);
          } else {
            afterFailure(call);
          }
        }

        @Override
        public void onUpstreamFailure(Throwable failure) {
          call.failure = failure;
          onUpstreamFinish();
        }
      });
      runNow(in, client.stream(call.model, keptText.isEmpty() ? request : request.continuing(keptText)));
    }

    /** Runs a call or compaction as this turn's substream; it is read as fast as the client reads. */
    private <T> void runNow(SubSinkInlet<T> in, Source<T, NotUsed> source) {
      running = in;
      source.runWith(in.sink(), subFusingMaterializer());
      if (isAvailable(out)) {
        in.pull();
      }
    }

    /** Passes a substream's events on; with none to pass, asks it for the next. */
    private void relay(SubSinkInlet<?> in, List<TurnEvent> events) {
      if (!events.isEmpty()) {
        emitMultiple(out, events.iterator());
      } else if (isAvailable(out)) {
        in.pull();
      }
    }

    private void finish(TurnEvent last) {
      emit(out, last);
      complete(out);
    }

    /** The decision table: what the failure of this call means for the turn. */
    private void afterFailure(Call call) {
      UpstreamFailure failure = call.failure == null
          ? UpstreamFailure.of(Kind.TRUNCATED, "the model stream ended without completing")
          : ErrorClassifier.asUpstreamException(call.failure).failure();
      attempts.add(new Attempt(call.model.ref(), failure.kind().name(), failure.status(), failure.message(),
          (System.nanoTime() - call.startNanos) / 1_000_000,
          failure.retryAfter() == null ? null : (int) Math.max(1, (failure.retryAfter().toMillis() + 999) / 1000)));
      metrics.callFailed(call.model, failure.kind());
      boolean discard = settle(call);
      switch (failure.action()) {
        case FATAL -> {
          finish(failed("the turn was stopped: " + describe(call.model, failure), failure.kind()));
          return;
        }
        case RETRY -> {
          Duration wait = retryDelay(failure);
          if (retries < settings.retries() && wait != null) {
            retries++;
            again(call, failure, discard, wait, this::attempt);
            return;
          }
        }
        case COMPACT_AND_RETRY -> {
          if (view.compactable()) {
            if (overflowRetries < settings.overflowRetries()) {
              overflowRetries++;
              again(call, failure, discard, Duration.ZERO, () -> compactThenCall(call.model, Compaction.OVERFLOW));
            } else {
              moveOn(call.model, noLongerFits(call.model), discard);
            }
            return;
          }
        }
        case FAIL_OVER -> {
          // moves on below
        }
      }
      moveOn(call.model, failure, discard);
    }

    /**
     * What becomes of the failed call's output: kept for the next call to continue, or void.
     * Returns whether clients must discard output they were shown.
     */
    private boolean settle(Call call) {
      if (midStream == MidStream.CONTINUE && !call.calledTool) {
        call.addPart();
        keptText = call.text.toString();
        keptReasoning = call.reasoning.toString();
        return false;
      }
      keptText = "";
      keptReasoning = "";
      parts.clear();
      return call.emitted;
    }

    /** The same model once more; if it had streamed output that is void, clients must discard it. */
    private void again(Call call, UpstreamFailure failure, boolean discard, Duration wait, Runnable next) {
      Runnable then = wait.isZero() ? next : () -> {
        afterBackoff = next;
        scheduleOnce(BACKOFF, wait);
      };
      if (discard) {
        emit(out, new TurnEvent.ModelSwitched(call.model.ref(), call.model.ref(), describe(call.model, failure), true),
            then::run);
      } else {
        then.run();
      }
    }

    @Override
    public void onTimer(Object key) {
      Runnable next = afterBackoff;
      afterBackoff = null;
      next.run();
    }

    private void moveOn(Model model, UpstreamFailure failure, boolean discard) {
      if (failure.kind() != Kind.CONTEXT_OVERFLOW) {
        cooldowns.failed(model); // an overflow says nothing about the model's health
      }
      String reason = describe(model, failure);
      leftBecause.add(reason);
      candidate++;
      retries = 0;
      overflowRetries = 0;
      if (candidate >= plan.size()) {
        finish(failed("all " + plan.size() + " candidate model(s) failed: " + String.join("; ", leftBecause),
            failure.kind()));
        return;
      }
      metrics.failedOver(model);
      Model next = plan.get(candidate);
      emit(out, new TurnEvent.ModelSwitched(model.ref(), next.ref(), reason, discard), this::attempt);
    }

    /** Retry-After when the server gave one within the cap; else exponential backoff. Null: do not wait, move on. */
    private Duration retryDelay(UpstreamFailure failure) {
      if (failure.retryAfter() != null) {
        return failure.retryAfter().compareTo(settings.retryAfterCap()) <= 0 ? failure.retryAfter() : null;
      }
      Duration backoff = settings.backoffInitial().multipliedBy(1L << Math.min(retries, 20));
      return backoff.compareTo(settings.backoffMax()) > 0 ? settings.backoffMax() : backoff;
    }

    private TurnEvent failed(String reason, Kind kind) {
      log.warn("turn {} failed after {} attempt(s): {}", turnId, attempts.size(), reason);
      return new TurnEvent.Failed(reason, kind.name(), List.copyOf(attempts));
    }

    private String describe(Model model, UpstreamFailure failure) {
      return model.ref() + ": " + failure.kind() + (failure.status() > 0 ? " (HTTP " + failure.status() + ")" : "")
          + " " + failure.message();
    }

    /** One call to one model: relays its events and gathers the answer, after what was kept. */
    private final class Call {
      final Model model;
      final long startNanos = System.nanoTime();
      final List<OutputItem> output = new ArrayList<>();
      final StringBuilder text = new StringBuilder(keptText);
      final StringBuilder reasoning = new StringBuilder(keptReasoning);
      /** Where this call's text starts in the answer, and where it has reached. */
      final int textStart = keptText.length();
      int textEnd = textStart;
      final boolean continuing = !keptText.isEmpty();
      ModelEvent.Usage usage = ModelEvent.Usage.NONE;
      /** When this call's first output came, once it did. */
      long firstOutputAt;
      boolean emitted;
      boolean calledTool;
      boolean completed;
      Throwable failure;

      Call(Model model) {
        this.model = model;
      }

      void addPart() {
        if (textEnd > textStart) {
          parts.add(new TurnResult.Part(model.ref(), textStart, textEnd));
        }
      }

      List<TurnEvent> onEvent(ModelEvent event) {
        if (event instanceof ModelEvent.TextDelta delta) {
          output();
          text.append(delta.text());
          textEnd += delta.text().length();
          return List.of(new TurnEvent.TextDelta(delta.text()));
        }
        if (event instanceof ModelEvent.ReasoningDelta delta) {
          if (continuing) {
            return List.of(); // reasoning in the middle of the answer would split its message in two
          }
          output();
          reasoning.append(delta.text());
          return List.of(new TurnEvent.ReasoningDelta(delta.text()));
        }
        if (event instanceof ModelEvent.ToolCall call) {
          output();
          calledTool = true;
          flushText();
          output.add(new OutputItem.FunctionCall(call.callId(), call.name(), call.arguments()));
          return List.of(new TurnEvent.ToolCall(call.callId(), call.name(), call.arguments()));
        }
        if (event instanceof ModelEvent.Usage reported) {
          usage = reported;
          return List.of();
        }
        return List.of(complete(((ModelEvent.Completed) event).reason()));
      }

      private void output() {
        if (!emitted) {
          emitted = true;
          firstOutputAt = System.nanoTime();
          metrics.firstOutput(model, firstOutputAt - startNanos);
          if (firstOutputNanos < 0) {
            firstOutputNanos = firstOutputAt;
          }
        }
      }

      private void flushText() {
        if (text.length() > 0) {
          output.add(new OutputItem.Text(text.toString()));
          text.setLength(0);
        }
      }

      private TurnEvent complete(ModelEvent.FinishReason reason) {
        completed = true;
        flushText();
        addPart();
        long millis = (System.nanoTime() - startNanos) / 1_000_000;
        attempts.add(new Attempt(model.ref(), null, 0, null, millis));
        cooldowns.succeeded(model);
        if (emitted) {
          metrics.generated(model, usage.outputTokens(), System.nanoTime() - firstOutputAt);
        }
        double cost = model.cost().dollars(usage.inputTokens(), usage.outputTokens(), usage.cachedTokens());
        TurnResult result = new TurnResult(output, reasoning.toString(), model.ref(), attempts,
            new TokenUsage(usage.inputTokens(), usage.outputTokens(), usage.cachedTokens(), usage.reasoningTokens()),
            cost, reason.name().toLowerCase(Locale.ROOT), parts);
        log.info("turn {} answered by {} after {} attempt(s){}; first output {} ms; {} in / {} out tokens; ${}",
            turnId, model.ref(), attempts.size(), faultSummary(),
            firstOutputNanos < 0 ? -1 : (firstOutputNanos - Turn.this.startNanos) / 1_000_000,
            usage.inputTokens(), usage.outputTokens(), String.format(Locale.ROOT, "%.6f", cost));
        return new TurnEvent.Completed(result);
      }

      private String faultSummary() {
        String faults = attempts.stream().filter(a -> !a.succeeded()).map(a -> a.model() + " " + a.failureKind())
            .collect(Collectors.joining(", "));
        return faults.isEmpty() ? "" : " (" + faults + ")";
      }
    }
  }
}
