package dev.talon.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import org.junit.jupiter.api.Test;

class ClockTickTest {
  @Test
  void aQuarterOfTheTimeoutFromAMillisecondToASecond() {
    assertEquals(Duration.ofMillis(100), ClockTick.of(Duration.ofMillis(400)));
    assertEquals(Duration.ofSeconds(1), ClockTick.of(Duration.ofMinutes(5)));
    assertEquals(Duration.ofMillis(1), ClockTick.of(Duration.ofMillis(2)));
  }
}
