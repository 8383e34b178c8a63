package dev.talon.conversation;

import dev.talon.compaction.Budget;
import dev.talon.compaction.Summaries;
import dev.talon.compaction.TokenEstimate;
import dev.talon.config.CompactionSettings;
import dev.talon.config.Model;
import dev.talon.upstream.ModelRequest;
import java.util.ArrayList;
import java.util.List;

/**
 * What a model is sent for one turn, in the parts a compaction folds: the latest summary, the
 * earlier turns kept in full, and the turn's own input with its options. Each run holds its own
 * view; a compaction during the run replaces the summary and drops the turns it folded.
 *
 * <p>Its size is the provider's own count where there is one: the tokens the last answered turn
 * reported (its request and its answer), plus an estimate of what came after; never less than an
 * estimate of everything.
 */
public final class ModelView {

  /**
   * A turn the model sees again: its id, its items (input, and output if it completed) and their
   * estimated tokens, counted once when the turn was journaled.
   */
  public record Earlier(String turnId, List<ModelRequest.Item> items, long tokens) {
    public Earlier(String turnId, List<ModelRequest.Item> items) {
      this(turnId, items, TokenEstimate.of(items));
    }
  }

  /** What a view may compact with: the agent's settings and the models that write its summaries. */
  public record Compacting(CompactionSettings settings, List<Model> summarisers) {}

  /**
   * The provider's count for the view up to and including turn {@code turnId}.
   *
   * @param tokens the turn's reported input and output tokens
   */
  public record Reported(String turnId, long tokens) implements JsonSerializable {}

  private final String turnId;
  private final ModelRequest turn;
  private final Compacting compacting;
  private String summary;
  private List<Earlier> earlier;
  private Reported reported;

  /**
   * @param turnId the turn being answered, or null when no turn is (a compaction on its own)
   * @param turn the turn's new input and its options (instructions, tools, limits)
   * @param compacting null: this view is sent as it is, never compacted
   */
  public ModelView(String turnId, ModelRequest turn, String summary, List<Earlier> earlier, Reported reported,
      Compacting compacting) {
    this.turnId = turnId;
    this.turn = turn;
    this.summary = summary;
    this.earlier = List.copyOf(earlier);
    this.reported = reported;
    this.compacting = compacting;
  }

  /** A request sent as it is: a client's own history, or a summariser's request. */
  public static ModelView of(ModelRequest request) {
    return new ModelView(null, request, null, List.of(), null, null);
  }

  /** The request as the model is sent it. */
  public ModelRequest request() {
    if (summary == null && earlier.isEmpty()) {
      return turn;
    }
    List<ModelRequest.Item> items = new ArrayList<>();
    if (summary != null) {
      items.add(Summaries.inView(summary));
    }
    earlier.forEach(e -> items.addAll(e.items()));
    items.addAll(turn.input());
    return new ModelRequest(turn.instructions(), items, turn.tools(), turn.toolChoice(), turn.maxOutputTokens(),
        turn.temperature(), turn.reasoningEffort());
  }

  /**
   * The tokens the request holds, as well as they are known: the provider's count of the view up
   * to its last answered turn plus an estimate of the rest, or the estimate of everything when that
   * is more. A provider's count can be the smaller (a tokenizer that packs prose tightly, a server
   * that counts streamed pieces as tokens) and the budget must hold by both.
   */
  public long tokens() {
    // Each earlier turn's estimate was made once; a turn's request costs only its own new input.
    long estimate = TokenEstimate.of(turn) + (summary == null ? 0 : TokenEstimate.of(Summaries.inView(summary)));
    int covered = reported == null ? -1 : indexOf(reported.turnId());
    long counted = covered < 0 ? 0 : reported.tokens() + TokenEstimate.of(turn.input());
    for (int i = 0; i < earlier.size(); i++) {
      estimate += earlier.get(i).tokens();
      if (i > covered && covered >= 0) {
        counted += earlier.get(i).tokens();
      }
    }
    return Math.max(counted, estimate);
  }

  /** Whether a compaction can be asked of this view. */
  public boolean compactable() {
    return compacting != null;
  }

  /** The budget of a request to {@code model}; only for a compactable view. */
  public Budget budget(Model model) {
    return Budget.of(model, turn.maxOutputTokens(), compacting.settings());
  }

  /** Whether the request fits {@code model}'s budget; a view that cannot be compacted always does. */
  public boolean fits(Model model) {
    return fits(model, 0);
  }

  /** Whether the request, and {@code more} tokens after it, fit {@code model}'s budget. */
  public boolean fits(Model model, long more) {
    return compacting == null || tokens() + more <= budget(model).promptTokens();
  }

  String turnId() {
    return turnId;
  }

  String summary() {
    return summary;
  }

  List<Earlier> earlier() {
    return earlier;
  }

  Compacting compacting() {
    return compacting;
  }

  /** The view once the first {@code folded} earlier turns are seen only through {@code newSummary}. */
  void compacted(String newSummary, int folded) {
    summary = newSummary;
    earlier = List.copyOf(earlier.subList(folded, earlier.size()));
    reported = null; // the provider counted a request that is no longer sent
  }

  private int indexOf(String id) {
    for (int i = earlier.size() - 1; i >= 0; i--) {
      if (earlier.get(i).turnId().equals(id)) {
        return i;
      }
    }
    return -1;
  }
}
