package dev.talon.conversation;

import java.time.Instant;

/**
 * One compaction of a conversation: the turns before {@code firstKeptTurnId} are from then on
 * seen by models only through {@code summary}, which folds in every earlier summary.
 *
 * @param firstKeptTurnId the oldest turn models still see in full
 * @param tokensBefore the estimated tokens of the model view before, and {@code tokensAfter} after
 * @param model the model that wrote the summary
 * @param trigger why it ran: {@link #BUDGET}, {@link #OVERFLOW}, {@link #THRESHOLD} or {@link #MANUAL}
 * @param foldedTurns how many turns this compaction folded in
 */
public record Compaction(String summary, String firstKeptTurnId, long tokensBefore, long tokensAfter, String model,
    String trigger, int foldedTurns, Instant at) implements JsonSerializable {

  /** The next request would not fit the budget of the model about to be called. */
  public static final String BUDGET = "budget";
  /** The model said the request overflowed its context. */
  public static final String OVERFLOW = "overflow";
  /** A turn left the conversation over its budget; it ran before the next one. */
  public static final String THRESHOLD = "threshold";
  /** A client asked for it. */
  public static final String MANUAL = "manual";
}
