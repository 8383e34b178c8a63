package dev.talon.conversation;

import dev.talon.compaction.Budget;
import dev.talon.compaction.CutPoint;
import dev.talon.compaction.Summaries;
import dev.talon.config.CompactionSettings;
import dev.talon.config.Model;
import dev.talon.config.TalonSettings.MidStream;
import dev.talon.upstream.ModelRequest;
import dev.talon.upstream.UpstreamFailure.Kind;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.javadsl.Source;

/**
 * Folds the older turns of a {@link ModelView} into a summary so that it fits a model: the stage
 * a turn's stream passes through before a call that would not fit, and what a compaction of an
 * idle conversation runs. It streams {@link TurnEvent.CompactionStarted}, then
 * {@link TurnEvent.Compacted} (the view now holds the new summary) or a {@link TurnEvent.Failed}
 * (the view is as it was). The summariser is called through the turn runner, so it retries and
 * fails over like a turn.
 */
public final class CompactionStage {
  /** A summariser request with less room than this for the turns it reads could not do its job. */
  private static final long MIN_CHUNK_TOKENS = 64;

  private final TurnRunner runner;

  public CompactionStage(TurnRunner runner) {
    this.runner = runner;
  }

  /**
   * @param target the model the view must fit, whose budget sets how much is kept
   * @param trigger why it runs, one of {@link Compaction}'s triggers
   * @param focus what the summary should dwell on, or null
   * @param halvings how many times to halve what is kept: once per overflow the model reported
   */
  public Source<TurnEvent, NotUsed> run(ModelView view, Model target, String trigger, String focus, int halvings) {
    return Source.lazySource(() -> start(view, target, trigger, focus, halvings))
        .mapMaterializedValue(ignored -> NotUsed.getInstance());
  }

  private Source<TurnEvent, NotUsed> start(ModelView view, Model target, String trigger, String focus, int halvings) {
    CompactionSettings settings = view.compacting().settings();
    Budget budget = view.budget(target);
    List<List<ModelRequest.Item>> turns = view.earlier().stream().map(ModelView.Earlier::items).toList();
    // A turn in progress keeps its own input apart from the earlier turns; a compaction on its
    // own keeps at least the newest turn, so the conversation still shows its latest answer.
    int mustKeep = view.turnId() != null ? turns.size() : Math.max(turns.size() - 1, 0);
    int folded = CutPoint.firstKept(turns, mustKeep, keepTokens(view, budget, settings, halvings));
    if (folded == 0) {
      return Source.single(failed("there are no older turns to fold into a summary", Kind.CONTEXT_OVERFLOW,
          List.of()));
    }
    int summaryTokens = budget.summaryTokens(settings);
    List<Model> summarisers = view.compacting().summarisers();
    long room = Long.MAX_VALUE;
    for (Model summariser : summarisers) {
      room = Math.min(room, Budget.of(summariser, summaryTokens, settings).promptTokens());
    }
    // Every chunk after the first is read beside the summary so far, which is at most summaryTokens.
    long chunkTokens = room - Summaries.overhead(null, focus) - summaryTokens;
    if (chunkTokens < MIN_CHUNK_TOKENS) {
      return Source.single(failed("the summariser " + summarisers.get(0).ref() + " has too small a context for a"
          + " summary of " + summaryTokens + " tokens", Kind.CONTEXT_OVERFLOW, List.of()));
    }
    List<ModelRequest.Item> items = new ArrayList<>();
    turns.subList(0, folded).forEach(items::addAll);
    List<List<String>> chunks = Summaries.chunks(Summaries.lines(items), chunkTokens);
    long before = view.tokens();
    int maxChars = Math.min(settings.maxSummaryChars(), summaryTokens * 4);
    Summarising summarising = new Summarising(view, summarisers, chunks, focus, summaryTokens, maxChars);
    return Source.<TurnEvent>single(new TurnEvent.CompactionStarted(trigger, target.ref(), before, folded))
        .concat(summarising.chunk(0, view.summary())
            .map(outcome -> {
              if (!(outcome instanceof TurnEvent.Completed done)) {
                return outcome;
              }
              String summary = Summaries.capped(done.result().text(), maxChars);
              String firstKept = folded < turns.size() ? view.earlier().get(folded).turnId() : view.turnId();
              view.compacted(summary, folded);
              return new TurnEvent.Compacted(new Compaction(summary, firstKept, before, view.tokens(),
                  done.result().model(), trigger, folded, Instant.now()));
            }));
  }

  /** Summarises chunk after chunk, each folded into the summary of those before it. */
  private final class Summarising {
    private final ModelView view;
    private final List<Model> summarisers;
    private final List<List<String>> chunks;
    private final String focus;
    private final int summaryTokens;
    private final int maxChars;

    Summarising(ModelView view, List<Model> summarisers, List<List<String>> chunks, String focus, int summaryTokens,
        int maxChars) {
      this.view = view;
      this.summarisers = summarisers;
      this.chunks = chunks;
      this.focus = focus;
      this.summaryTokens = summaryTokens;
      this.maxChars = maxChars;
    }

    /** Ends with the last chunk's Completed (its text is the summary) or with a Failed. */
    Source<TurnEvent, NotUsed> chunk(int index, String previous) {
      ModelRequest request = Summaries.request(previous, chunks.get(index), focus, summaryTokens);
      String id = (view.turnId() != null ? view.turnId() : "conversation") + "-summary-" + (index + 1);
      return runner.run(id, summarisers, ModelView.of(request), MidStream.RESTART)
          .filter(event -> event instanceof TurnEvent.Completed || event instanceof TurnEvent.Failed)
          .flatMapConcat(outcome -> {
            if (outcome instanceof TurnEvent.Failed failure) {
              return Source.single(failed("the summariser failed: " + failure.reason(), kindOf(failure),
                  failure.attempts()));
            }
            TurnResult result = ((TurnEvent.Completed) outcome).result();
            String summary = Summaries.capped(result.text(), maxChars);
            if (summary.isEmpty()) {
              return Source.single(failed("the summariser " + result.model() + " wrote an empty summary",
                  Kind.SERVER_ERROR, result.attempts()));
            }
            return index + 1 < chunks.size() ? chunk(index + 1, summary) : Source.single(outcome);
          });
    }
  }

  /**
   * How much of the newest history to keep: the budget's keep share, less what the view is over
   * budget by and room for the summary; halved per overflow the model reported, since the
   * model's own count was higher than the estimate.
   */
  private static long keepTokens(ModelView view, Budget budget, CompactionSettings settings, int halvings) {
    long earlier = 0;
    for (ModelView.Earlier turn : view.earlier()) {
      earlier += turn.tokens();
    }
    long over = Math.max(0, view.tokens() - budget.promptTokens());
    long keep = Math.min(budget.keepTokens(settings), earlier - over - (over > 0 ? budget.summaryTokens(settings) : 0));
    return Math.max(0, Math.min(keep, earlier >> Math.min(halvings, 62)));
  }

  private static TurnEvent.Failed failed(String reason, Kind kind, List<Attempt> attempts) {
    return new TurnEvent.Failed("could not compact the conversation: " + reason + "; it is unchanged", kind.name(),
        attempts);
  }

  private static Kind kindOf(TurnEvent.Failed failure) {
    try {
      return Kind.valueOf(failure.kind());
    } catch (IllegalArgumentException e) {
      return Kind.SERVER_ERROR;
    }
  }
}
