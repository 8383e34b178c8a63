package dev.talon.upstream;

import java.time.Duration;

/**
 * How often a stream stage looks at a clock that a timeout is measured on. The stage keeps one
 * fixed tick rather than a timer re-armed per element or armed for the whole timeout: Pekko's
 * scheduler keeps a cancelled timer until its time, and one per token, or one per call for a
 * five-minute timeout, at hundreds of streams a second, filled the old generation and set off full
 * collections. A tick of a quarter of the timeout, and at most a second, leaves at most a second's
 * worth behind and bounds how late a timeout is noticed.
 */
public final class ClockTick {
  private static final Duration MAX = Duration.ofSeconds(1);
  private static final Duration MIN = Duration.ofMillis(1);

  private ClockTick() {}

  /** The tick for {@code timeout}: a quarter of it, from 1 ms to 1 s. */
  public static Duration of(Duration timeout) {
    Duration quarter = timeout.dividedBy(4);
    return quarter.compareTo(MAX) > 0 ? MAX : quarter.compareTo(MIN) < 0 ? MIN : quarter;
  }
}
