package dev.talon.conversation;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.NotUsed;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.javadsl.Source;

/**
 * The live events of one turn, kept in memory and append-only, so that any number of
 * subscribers can replay them from any index and then follow the turn live. Each subscriber
 * pulls at its own pace: the writer never waits for a reader, and the log is bounded by the
 * turn itself.
 *
 * <p>Thread-safe: the turn's stream appends while subscribers' streams read.
 */
public final class TurnLog {
  private final String turnId;
  private final List<TurnEvent> events = new ArrayList<>();
  private boolean closed;
  /** Until released, readers wait even for events that are there (see {@link #held}). */
  private boolean released;
  /** What waiting readers wait on: completed at the next append or close; null when nobody waits. */
  private CompletableFuture<Void> changed;

  private TurnLog(String turnId) {
    this.turnId = turnId;
  }

  /**
   * A log whose readers see nothing until {@link #release()}: the turn may stream and
   * subscribers may connect while its input is still being journaled, and nobody sees an answer
   * to words that are not yet durable.
   */
  public static TurnLog held(String turnId) {
    return new TurnLog(turnId);
  }

  /** Lets readers see the events; closing the log releases it too. */
  public void release() {
    CompletableFuture<Void> signal;
    synchronized (this) {
      released = true;
      signal = takeSignal();
    }
    if (signal != null) {
      signal.complete(null);
    }
  }

  public String turnId() {
    return turnId;
  }

  /** Adds an event; ignored once the log is closed (a cancelled turn's stragglers). */
  public void append(TurnEvent event) {
    CompletableFuture<Void> signal;
    synchronized (this) {
      if (closed) {
        return;
      }
      events.add(event);
      signal = takeSignal();
    }
    if (signal != null) {
      signal.complete(null);
    }
  }

  /**
   * Appends the turn's last event and ends every subscription after it. A log closed before it
   * was released keeps only {@code last}: its input never became durable, so nothing the model
   * said in answer may be seen.
   */
  public void close(TurnEvent last) {
    CompletableFuture<Void> signal;
    synchronized (this) {
      if (closed) {
        return;
      }
      if (!released) {
        events.clear();
      }
      events.add(last);
      closed = true;
      released = true;
      signal = takeSignal();
    }
    if (signal != null) {
      signal.complete(null);
    }
  }

  /**
   * The events from {@code index} on that are there: completes at once when there are any, with
   * an empty list when the log closed before reaching {@code index}, and otherwise as soon as
   * either happens. A reader that fell behind gets everything it missed in one go.
   */
  public CompletionStage<List<TurnEvent>> eventsFrom(int index) {
    CompletableFuture<Void> waitFor;
    synchronized (this) {
      if (released && index < events.size()) {
        return CompletableFuture.completedFuture(List.copyOf(events.subList(index, events.size())));
      }
      if (closed) {
        return CompletableFuture.completedFuture(List.of());
      }
      if (changed == null) {
        changed = new CompletableFuture<>();
      }
      waitFor = changed;
    }
    return waitFor.thenCompose(ignored -> eventsFrom(index));
  }

  /**
   * Every event from {@code fromIndex} on, then the live ones, completing after the last, in the
   * batches a reader finds them in: whatever was appended since its last read, so a reader that
   * hands them on to another stream hands each batch on in one go.
   */
  public Source<List<TurnEvent>, NotUsed> batches(int fromIndex) {
    return Source.unfoldAsync(Math.max(0, fromIndex), index -> eventsFrom(index).thenApply(batch -> batch.isEmpty()
        ? Optional.<Pair<Integer, List<TurnEvent>>>empty()
        : Optional.of(Pair.create(index + batch.size(), batch))));
  }

  private CompletableFuture<Void> takeSignal() {
    CompletableFuture<Void> signal = changed;
    changed = null;
    return signal;
  }
}
