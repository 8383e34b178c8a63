package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Script;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The chat page at {@code /}: its files as the gateway serves them, and the page itself end to end
 * in Debian's headless Chromium, driven by {@code src/test/web/chat.spec.mjs} (playwright-core)
 * against a node on a loopback port. The browser test is skipped, saying why, only where Chromium,
 * node or playwright-core are missing ({@code .ci/run} installs them). Its screenshots and logs are
 * left in {@code target/web-chat.png}, {@code target/web-chat-token.png} and their {@code .log}s.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class WebPageTest {
  static final Path SPEC = Path.of("src/test/web/chat.spec.mjs");
  static final Path PLAYWRIGHT = Path.of("src/test/web/node_modules/playwright-core");
  static final Path CHROMIUM = Path.of("/usr/bin/chromium");
  /** The whole script: a browser start, three turns, a reload; about 10 s on an idle machine. */
  static final Duration SPEC_TIMEOUT = Duration.ofSeconds(120);

  // What the fake answers, picked by the marker in the newest user message (chat.spec.mjs sends them).
  static final Duration TOKEN_DELAY = Duration.ofMillis(150);
  /** With markup, which the page must show as text. */
  static final String STORY = "Once upon a time, a gateway streamed <b>every</b> token the moment it came.";
  static final String THOUGHT = "A short story about streaming will do.";
  /** Long enough to be stopped in the middle: 300 tokens at TOKEN_DELAY is 45 s. */
  static final String ENDLESS = IntStream.rangeClosed(1, 300).mapToObj(Integer::toString)
      .collect(Collectors.joining(" "));
  static final String BACKUP = "The backup model is here.";

  static void answerByMarker(FakeUpstream fake) {
    fake.setDefault(request -> switch (newestMarker(request.rawBody())) {
      case "[slow]" -> Script.reply(STORY).reasoning(THOUGHT).tokenDelay(TOKEN_DELAY);
      case "[long]" -> Script.reply(ENDLESS).tokenDelay(TOKEN_DELAY);
      // the primary (local/a) is down; its fallback (backup/b) answers
      case "[fail]" -> request.model().equals("a") ? Script.status(500, "the primary is down") : Script.reply(BACKUP);
      default -> Script.reply("Unexpected request.");
    });
  }

  /** The marker that comes last in the body: the newest message's (the history comes before it). */
  static String newestMarker(String body) {
    return List.of("[slow]", "[long]", "[fail]").stream().max(Comparator.comparingInt(body::lastIndexOf))
        .filter(marker -> body.contains(marker)).orElse("");
  }

  @Test
  void theFilesAreServedWithoutATokenAndTheApiStillWantsIt(@TempDir Path data) throws Exception {
    try (TalonApi node = TalonApi.start(data, TalonApi.TOKEN)) {
      HttpResponse<String> page = get(node, "/");
      assertEquals(200, page.statusCode(), page.body());
      assertEquals("text/html; charset=UTF-8", page.headers().firstValue("Content-Type").orElse(null));
      assertTrue(page.body().contains("<script type=\"module\" src=\"/web/chat.js\">"), page.body());
      assertTrue(page.headers().firstValue("Content-Security-Policy").orElse("").contains("default-src 'self'"));
      for (Map.Entry<String, String> file : Map.of("/web/chat.js", "application/javascript",
          "/web/api.js", "application/javascript", "/web/render.js", "application/javascript",
          "/web/chat.css", "text/css").entrySet()) {
        HttpResponse<String> served = get(node, file.getKey());
        assertEquals(200, served.statusCode(), file.getKey());
        assertEquals(file.getValue() + "; charset=UTF-8", served.headers().firstValue("Content-Type").orElse(null),
            file.getKey());
      }
      assertEquals(404, get(node, "/web/missing.js").statusCode());
      String outside = node.raw("GET /web/../application.conf HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
      assertTrue(outside.startsWith("HTTP/1.1 404") && !outside.contains("serialization-bindings"), outside);
      assertEquals(401, get(node, "/v1/conversations").statusCode(), "the API the page calls still wants the token");
    }
  }

  @Test
  void chattingInTheBrowserThenAfterARestartWithATokenThePageAsksForIt(@TempDir Path data) throws Exception {
    assumeTrue(Files.isExecutable(CHROMIUM), "no Chromium at " + CHROMIUM + ": apt-get install chromium (.ci/run does)");
    assumeTrue(nodeRuns(), "no node on the PATH (Debian: apt-get install nodejs npm)");
    assumeTrue(Files.isDirectory(PLAYWRIGHT), "playwright-core is not installed: npm ci in src/test/web (.ci/run does)");

    String key;
    try (TalonApi node = TalonApi.start(data, null)) {
      answerByMarker(node.fake);
      JsonNode seen = spec(node, Path.of("target/web-chat.png"), null);
      key = seen.path("key").asText();
      String partial = seen.path("partial").asText();
      assertTrue(!partial.isEmpty() && partial.length() < STORY.length() && STORY.startsWith(partial),
          "part of the answer, shown before the rest: " + partial);
      assertEquals(STORY, seen.path("streamed").asText());
      assertEquals(THOUGHT, seen.path("reasoning").path(0).path("text").asText());
      assertEquals("local/a", seen.path("slowModel").asText());
      assertTrue(seen.path("usage").asText().matches("\\d+ tokens in · \\d+ out \\(\\d+ reasoning\\) · \\$0"), seen.path("usage").asText());

      assertTrue(ENDLESS.startsWith(seen.path("beforeStop").asText()));
      assertEquals("cancelled", seen.path("cancelledStatus").asText());
      assertTrue(node.fake.closedConnections().stream().anyMatch(request -> request.rawBody().contains("[long]")),
          "the stopped turn's upstream call was closed");

      assertEquals("backup/b", seen.path("failoverModel").asText());
      assertEquals(BACKUP, seen.path("failoverAnswer").asText());
      assertTrue(texts(seen.path("failoverNotices")).stream().anyMatch(notice -> notice.contains("local/a")
          && notice.contains("backup/b")), seen.path("failoverNotices").toString());

      JsonNode reloaded = seen.path("reloaded");
      assertEquals(List.of("completed", "cancelled", "completed"), texts(reloaded, "status"));
      assertEquals(List.of(STORY, "", BACKUP), texts(reloaded, "answer"), "a cancelled turn's partial answer is not kept");
      assertEquals("backup/b", reloaded.path(2).path("model").asText());
      assertTrue(texts(reloaded.path(2).path("notices")).stream().anyMatch(notice -> notice.contains("failover")
          && notice.contains("local/a") && notice.contains("backup/b")), reloaded.path(2).toString());
    }

    try (TalonApi node = TalonApi.start(data, TalonApi.TOKEN)) {
      answerByMarker(node.fake);
      JsonNode seen = spec(node, Path.of("target/web-chat-token.png"), TalonApi.TOKEN);
      assertTrue(seen.path("firstAsk").asText().contains("needs its token"), seen.toString());
      assertTrue(seen.path("secondAsk").asText().contains("refused"), seen.toString());
      assertEquals(List.of(key), texts(seen.path("listed")));
      assertEquals(List.of("completed", "cancelled", "completed"), texts(seen.path("earlier"), "status"));
      assertEquals(STORY, seen.path("streamed").asText());
      assertEquals(TalonApi.TOKEN, seen.path("stored").asText());
    }
  }

  /** Runs chat.spec.mjs against {@code node}; what it saw, once it passed. */
  static JsonNode spec(TalonApi node, Path screenshot, String token) throws Exception {
    Files.createDirectories(screenshot.getParent());
    Path log = screenshot.resolveSibling(screenshot.getFileName().toString().replace(".png", ".log"));
    List<String> command = new ArrayList<>(List.of("node", SPEC.toString(),
        "http://127.0.0.1:" + node.server.localAddress().getPort(), screenshot.toString()));
    if (token != null) {
      command.add(token);
    }
    Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    try {
      if (!process.waitFor(SPEC_TIMEOUT.toSeconds(), TimeUnit.SECONDS)) {
        fail("chat.spec.mjs did not finish in " + SPEC_TIMEOUT + ":\n" + Files.readString(log));
      }
      String output = Files.readString(log);
      assertEquals(0, process.exitValue(), output);
      String result = output.lines().filter(line -> line.startsWith("RESULT ")).findFirst()
          .orElseThrow(() -> new AssertionError("no RESULT line:\n" + output));
      return TalonApi.JSON.readTree(result.substring("RESULT ".length()));
    } finally {
      process.descendants().forEach(ProcessHandle::destroyForcibly); // the browser, if the script hung
      process.destroyForcibly();
    }
  }

  static boolean nodeRuns() throws InterruptedException {
    try {
      Process node = new ProcessBuilder("node", "--version").redirectErrorStream(true).start();
      return node.waitFor(10, TimeUnit.SECONDS) && node.exitValue() == 0;
    } catch (IOException e) {
      return false;
    }
  }

  static HttpResponse<String> get(TalonApi node, String path) throws Exception {
    return node.http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.server.localAddress().getPort()
        + path)).timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
  }

  static List<String> texts(JsonNode array) {
    List<String> out = new ArrayList<>();
    array.forEach(element -> out.add(element.asText()));
    return out;
  }

  static List<String> texts(JsonNode array, String field) {
    List<String> out = new ArrayList<>();
    array.forEach(element -> out.add(element.path(field).asText()));
    return out;
  }
}
