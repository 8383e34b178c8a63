package dev.talon.gateway;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.Done;

/**
 * The turn requests being answered, for a graceful stop: once draining, no new turn is let in,
 * and {@link #drain()} completes when the last running one has been answered to its end.
 */
final class TurnsInFlight {
  private final CompletableFuture<Done> drained = new CompletableFuture<>();
  private int running;
  private boolean draining;

  /** Counts a new turn in; false once draining. Every true must be followed by one {@link #exit()}. */
  synchronized boolean enter() {
    if (draining) {
      return false;
    }
    running++;
    return true;
  }

  void exit() {
    boolean last;
    synchronized (this) {
      running--;
      last = draining && running == 0;
    }
    if (last) {
      drained.complete(Done.getInstance());
    }
  }

  /** Lets no new turn in; completes once the running ones are answered. */
  CompletionStage<Done> drain() {
    boolean idle;
    synchronized (this) {
      draining = true;
      idle = running == 0;
    }
    if (idle) {
      drained.complete(Done.getInstance());
    }
    return drained;
  }

  synchronized boolean draining() {
    return draining;
  }
}
