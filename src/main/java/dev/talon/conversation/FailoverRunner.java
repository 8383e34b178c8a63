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
import org.apache.pekko.japi.pf.PFBuilder;
import org.apache.pekko.stream.javadsl.Source;
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
    // Each run gets its own state: the plan is made when the turn starts, not when it is built.
    return lazy(() -> new Turn(turnId, cooldowns.plan(candidates), view, mode).start());
  }

  private static Source<TurnEvent, NotUsed> lazy(java.util.function.Supplier<Source<TurnEvent, NotUsed>> source) {
    return Source.lazySource(source::get).mapMaterializedValue(ignored -> NotUsed.getInstance());
  }

  /** One run of one turn. */
  private final class Turn {
    private final String turnId;
    private final List<Model> plan;
    private final ModelView view;
    private final MidStream midStream;
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

    Turn(String turnId, List<Model> plan, ModelView view, MidStream midStream) {
      this.turnId = turnId;
      this.plan = plan;
      this.view = view;
      this.midStream = midStream;
    }

    Source<TurnEvent, NotUsed> start() {
      if (plan.isEmpty()) {
        return Source.single(failed("no model to try", Kind.UNAVAILABLE));
      }
      return Source.<TurnEvent>single(new TurnEvent.Started(turnId, plan.get(0).ref()))
          .concatLazy(lazy(this::attempt));
    }

    /** The call to the current candidate, after a compaction if the view would not fit it. */
    private Source<TurnEvent, NotUsed> attempt() {
      Model model = plan.get(candidate);
      return view.fits(model) ? call(model) : compactThenCall(model, Compaction.BUDGET);
    }

    /**
     * Compacts the view for {@code model}, then calls it. A summariser that failed fails the turn
     * (the request would not fit); a view that still does not fit moves on to the next candidate.
     */
    private Source<TurnEvent, NotUsed> compactThenCall(Model model, String trigger) {
      return compaction.run(view, model, trigger, null, overflowRetries)
          .mapConcat(event -> {
            if (event instanceof TurnEvent.Failed failure) {
              compactionFailure = failure;
              return List.<TurnEvent>of();
            }
            return List.of(event);
          })
          .concatLazy(lazy(() -> {
            TurnEvent.Failed failure = compactionFailure;
            compactionFailure = null;
            if (failure != null) {
              attempts.addAll(failure.attempts());
              if (!Kind.CONTEXT_OVERFLOW.name().equals(failure.kind())) {
                return Source.single(failed(failure.reason(), Kind.valueOf(failure.kind())));
              }
            }
            return failure == null && view.fits(model) ? call(model) : moveOn(model, noLongerFits(model), false);
          }));
    }

    private UpstreamFailure noLongerFits(Model model) {
      return UpstreamFailure.of(Kind.CONTEXT_OVERFLOW, "this conversation no longer fits " + model.ref()
          + "'s context even after compaction");
    }

    private Source<TurnEvent, NotUsed> call(Model model) {
      metrics.called(model);
      Call call = new Call(model);
      ModelRequest request = view.request();
      return client.stream(call.model, keptText.isEmpty() ? request : request.continuing(keptText))
          .mapConcat(call::onEvent)
          .recoverWithRetries(1, new PFBuilder<Throwable, org.apache.pekko.stream.Graph<
              org.apache.pekko.stream.SourceShape<TurnEvent>, NotUsed>>()
              .match(Throwable.class, failure -> {
                call.failure = failure;
                return Source.empty();
              })
              .build())
          .concatLazy(lazy(() -> call.completed ? Source.empty() : afterFailure(call)));
    }

    /** The decision table: what the failure of this call means for the turn. */
    private Source<TurnEvent, NotUsed> afterFailure(Call call) {
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
          return Source.single(failed("the turn was stopped: " + describe(call.model, failure), failure.kind()));
        }
        case RETRY -> {
          Duration wait = retryDelay(failure);
          if (retries < settings.retries() && wait != null) {
            retries++;
            return again(call, failure, discard, wait, this::attempt);
          }
        }
        case COMPACT_AND_RETRY -> {
          if (view.compactable()) {
            if (overflowRetries < settings.overflowRetries()) {
              overflowRetries++;
              return again(call, failure, discard, Duration.ZERO, () -> compactThenCall(call.model, Compaction.OVERFLOW));
            }
            return moveOn(call.model, noLongerFits(call.model), discard);
          }
        }
        case FAIL_OVER -> {
          // moves on below
        }
      }
      return moveOn(call.model, failure, discard);
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
    private Source<TurnEvent, NotUsed> again(Call call, UpstreamFailure failure, boolean discard, Duration wait,
        java.util.function.Supplier<Source<TurnEvent, NotUsed>> next) {
      Source<TurnEvent, NotUsed> restart = discard
          ? Source.single(new TurnEvent.ModelSwitched(call.model.ref(), call.model.ref(), describe(call.model, failure), true))
          : Source.empty();
      Source<TurnEvent, NotUsed> after = wait.isZero() ? lazy(next)
          : Source.single(NotUsed.getInstance()).initialDelay(wait).flatMapConcat(go -> next.get());
      return restart.concatLazy(after);
    }

    private Source<TurnEvent, NotUsed> moveOn(Model model, UpstreamFailure failure, boolean discard) {
      if (failure.kind() != Kind.CONTEXT_OVERFLOW) {
        cooldowns.failed(model); // an overflow says nothing about the model's health
      }
      String reason = describe(model, failure);
      leftBecause.add(reason);
      candidate++;
      retries = 0;
      overflowRetries = 0;
      if (candidate >= plan.size()) {
        return Source.single(failed("all " + plan.size() + " candidate model(s) failed: "
            + String.join("; ", leftBecause), failure.kind()));
      }
      metrics.failedOver(model);
      Model next = plan.get(candidate);
      return Source.<TurnEvent>single(new TurnEvent.ModelSwitched(model.ref(), next.ref(), reason, discard))
          .concatLazy(lazy(this::attempt));
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
