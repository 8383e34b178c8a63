package dev.talon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Script;
import dev.talon.testing.TalonProcess;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every class a process loads stays in its memory until it exits, some 7 KiB each: a served node,
 * having answered a turn, has loaded none of the libraries' parts that Talon does not use.
 */
class ServeFootprintTest {
  static final Duration START = Duration.ofSeconds(90);
  static final Duration CALL = Duration.ofSeconds(30);
  /**
   * Logback's XML configuration language, Jackson's Scala module, the JDK's XML parser, Pekko's Flight
   * Recorder events.
   */
  static final List<String> UNUSED = List.of("ch.qos.logback.core.joran.action.", "ch.qos.logback.core.model.",
      "com.fasterxml.jackson.module.scala.",
      "com.sun.org.apache.xerces.", "org.apache.pekko.remote.artery.jfr.");
  static final Pattern LOG_LINE = Pattern.compile("(?m)^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} INFO  \\S+ - ");

  @TempDir Path dir;

  @Test
  void aServedNodeLoadsNoneOfTheUnusedPartsAndStillLogs() throws Exception {
    Path loaded = dir.resolve("classes.log");
    try (FakeUpstream fake = FakeUpstream.start()) {
      Path config = TalonProcess.writeConfig(dir, fake, "{}");
      try (TalonProcess talon = TalonProcess.start(config, dir.resolve("data"), START,
          "-Xlog:class+load=info:file=" + loaded)) {
        fake.enqueue(Script.reply("Loaded."));
        HttpResponse<String> turn = HttpClient.newHttpClient().send(talon.request("/v1/responses").timeout(CALL)
            .header("Content-Type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString("{\"input\":\"hi\"}")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, turn.statusCode(), turn.body());
        assertTrue(LOG_LINE.matcher(talon.logs()).find(), "no log line in Talon's format in:\n" + talon.logs());
      }
    }
    List<String> classes = Files.readAllLines(loaded);
    assertTrue(classes.stream().anyMatch(line -> line.contains(" dev.talon.conversation.ConversationEntity ")),
        "the class-load log lists Talon's classes: " + classes.size() + " lines");
    for (String unused : UNUSED) {
      assertEquals(List.of(), classes.stream().filter(line -> line.contains(" " + unused)).limit(5).toList(), unused);
    }
  }
}
