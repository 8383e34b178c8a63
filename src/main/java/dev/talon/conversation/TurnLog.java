package dev.talon.conversation;

import java.util.ArrayList;
import java.util.Arrays;
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
 * <p>A closed log stays with its conversation while it is in memory, for clients that come back
 * for the answer. Closing packs each run of text (and of reasoning) pieces into one string and the
 * offsets where its pieces end, and readers still get the pieces exactly as they streamed. A
 * conversation whose last answer was 2,000 tokens then holds some 60 KB of heap instead of 175.
 *
 * <p>Thread-safe: the turn's stream appends while subscribers' streams read.
 */
public final class TurnLog {
  private final String turnId;
  /** The events while the log is open. */
  private List<TurnEvent> events = new ArrayList<>();
  /** The events once the log is closed; null while it is open. */
  private Packed packed;
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
      if (packed != null) {
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
      if (packed != null) {
        return;
      }
      if (!released) {
        events.clear();
      }
      events.add(last);
      packed = Packed.of(events);
      events = null;
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
      if (packed != null) {
        return CompletableFuture.completedFuture(packed.from(index));
      }
      if (released && index < events.size()) {
        return CompletableFuture.completedFuture(List.copyOf(events.subList(index, events.size())));
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

  /**
   * A closed log's events: each entry is an event, or a run of text or reasoning pieces that
   * {@link Pieces} keeps as one string; {@code firsts[i]} is the index of entry i's first event.
   */
  private record Packed(List<Object> entries, int[] firsts, int size) {
    static Packed of(List<TurnEvent> events) {
      List<Object> entries = new ArrayList<>();
      int[] firsts = new int[events.size()];
      int i = 0;
      while (i < events.size()) {
        firsts[entries.size()] = i;
        int end = i + 1;
        while (end < events.size() && Pieces.sameKind(events.get(i), events.get(end))) {
          end++;
        }
        entries.add(end - i > 1 ? Pieces.of(events.subList(i, end)) : events.get(i));
        i = end;
      }
      return new Packed(entries, Arrays.copyOf(firsts, entries.size()), events.size());
    }

    /** The events from {@code index} on: empty past the end. */
    List<TurnEvent> from(int index) {
      List<TurnEvent> out = new ArrayList<>(Math.max(0, size - index));
      for (int entry = 0; entry < entries.size(); entry++) {
        int first = firsts[entry];
        Object held = entries.get(entry);
        if (held instanceof Pieces pieces) {
          pieces.addFrom(Math.max(0, index - first), out);
        } else if (first >= index) {
          out.add((TurnEvent) held);
        }
      }
      return out;
    }
  }

  /** Consecutive text (or reasoning) pieces, as one string and the offset where each piece ends. */
  private record Pieces(boolean reasoning, String text, int[] ends) {
    static boolean sameKind(TurnEvent a, TurnEvent b) {
      return a instanceof TurnEvent.TextDelta && b instanceof TurnEvent.TextDelta
          || a instanceof TurnEvent.ReasoningDelta && b instanceof TurnEvent.ReasoningDelta;
    }

    static Pieces of(List<TurnEvent> run) {
      StringBuilder text = new StringBuilder();
      int[] ends = new int[run.size()];
      for (int i = 0; i < run.size(); i++) {
        text.append(run.get(i) instanceof TurnEvent.TextDelta delta ? delta.text()
            : ((TurnEvent.ReasoningDelta) run.get(i)).text());
        ends[i] = text.length();
      }
      return new Pieces(run.get(0) instanceof TurnEvent.ReasoningDelta, text.toString(), ends);
    }

    /** Adds the pieces from the {@code from}-th on to {@code out}. */
    void addFrom(int from, List<TurnEvent> out) {
      for (int i = from; i < ends.length; i++) {
        String piece = text.substring(i == 0 ? 0 : ends[i - 1], ends[i]);
        out.add(reasoning ? new TurnEvent.ReasoningDelta(piece) : new TurnEvent.TextDelta(piece));
      }
    }
  }

  private CompletableFuture<Void> takeSignal() {
    CompletableFuture<Void> signal = changed;
    changed = null;
    return signal;
  }
}
