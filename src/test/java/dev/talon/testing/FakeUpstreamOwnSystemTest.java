package dev.talon.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** {@link FakeUpstream#start()} brings its own ActorSystem; closing it ends what is still open. */
class FakeUpstreamOwnSystemTest {

  @Test
  void startsOnItsOwnSystemAndClosingEndsStalledStreams() throws Exception {
    FakeUpstream fake = FakeUpstream.start();
    fake.enqueue(Script.reply("never finished").stallAfter(1));
    assertTrue(fake.baseUrl().matches("http://127\\.0\\.0\\.1:\\d+/v1"));
    assertEquals(fake.port(), fake.address().getPort());

    try (RawHttp raw =
        RawHttp.post(fake.address(), "/v1/chat/completions", "{\"stream\":true,\"messages\":[]}")) {
      raw.readUntil("\"never\"");
      fake.close();

      RawHttp.Body rest = raw.readTimeout(Duration.ofSeconds(5)).readToEnd();
      assertFalse(rest.complete(), "the stalled stream is cut when the fake closes");
    }
  }
}
