package dev.talon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Request;
import dev.talon.testing.Script;
import dev.talon.testing.TalonProcess;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code talon chat} as people use it, against a real node and the fake upstream: in a pipe it
 * prints only the answer; at a prompt (a pseudo-terminal made by tmux) it streams the answer,
 * says when a turn failed over, and started again on the same session shows what came before.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ChatCommandTest {
  static final Duration START = Duration.ofSeconds(90);
  static final Duration WAIT = Duration.ofSeconds(60);

  @TempDir static Path dir;
  FakeUpstream fake;
  TalonProcess talon;

  @BeforeAll
  void startTalon() throws Exception {
    fake = FakeUpstream.start();
    // local/a is down; local/b answers what it was asked
    fake.setDefault(request -> "a".equals(request.model()) ? Script.status(500, "model a is down")
        : Script.reply("You said: " + lastUserText(request)));
    Path config = Files.writeString(dir.resolve("talon.json5"), """
        { agents: { defaults: { model: { primary: "local/a", fallbacks: ["local/b"] } } },
          models: { mode: "replace", providers: {
            local: { baseUrl: "%s", apiKey: "none", api: "openai-responses", models: [{ id: "a" }, { id: "b" }] } } },
          talon: { failover: { retries: 0 } } }
        """.formatted(fake.baseUrl()));
    talon = TalonProcess.start(config, dir.resolve("data"), START);
  }

  @AfterAll
  void stop() {
    if (talon != null) {
      talon.close();
    }
    fake.close();
  }

  @Test
  void inAPipeItPrintsOnlyTheAnswer() throws Exception {
    // local/b only: the prompt's test finds local/a failing for the first time, whichever runs first
    Process chat = new ProcessBuilder(chatCommand("--session", "piped", "--model", "local/b")).start();
    // commands work in a pipe too: the second turn starts a new conversation
    chat.getOutputStream().write("hi there\n/new\n\nagain\n".getBytes(StandardCharsets.UTF_8));
    chat.getOutputStream().close();
    String out = new String(chat.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    String err = new String(chat.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    assertTrue(chat.waitFor(WAIT.toSeconds(), TimeUnit.SECONDS));
    assertEquals("You said: hi there\nYou said: again\n", out, err);
    assertFalse(out.contains("\u001b") || err.contains("\u001b"), "no escape codes in a pipe");
    assertEquals(0, chat.exitValue(), err);
    Request last = fake.requests().get(fake.requests().size() - 1);
    assertFalse(last.rawBody().contains("hi there"), "a new conversation has no history: " + last.rawBody());
  }

  @Test
  void atAPromptItStreamsSaysWhenATurnFailedOverAndComesBackToItsHistory() throws Exception {
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/tmux")) || onPath("tmux"),
        "tmux is not installed (.ci/run installs it)");
    String window = "talon-chat-" + ProcessHandle.current().pid();
    tmux("new-session", "-d", "-s", window, "-x", "160", "-y", "50", String.join(" ", quoted(chatCommand(
        "--session", "prompted"))));
    try {
      awaitScreen(window, screen -> screen.contains("you> "));
      tmux("send-keys", "-t", window, "remember the word lighthouse", "Enter");
      String screen = awaitScreen(window, s -> s.contains("You said: remember the word lighthouse")
          && s.lastIndexOf("you> ") > s.indexOf("You said:"));
      assertTrue(screen.contains("failed over from local/a to local/b"), screen);
      assertTrue(screen.contains("local/b"), screen);
      tmux("send-keys", "-t", window, "/quit", "Enter");
      awaitGone(window);

      // started again on the same session: the conversation, kept by Talon, is shown and goes on
      tmux("new-session", "-d", "-s", window, "-x", "160", "-y", "50", String.join(" ", quoted(chatCommand(
          "--session", "prompted"))));
      screen = awaitScreen(window, s -> s.contains("earlier in this conversation") && s.contains("you> "));
      assertTrue(screen.contains("remember the word lighthouse"), screen);
      tmux("send-keys", "-t", window, "and again", "Enter");
      awaitScreen(window, s -> s.contains("You said: and again"));
      Request last = fake.requests().get(fake.requests().size() - 1);
      assertTrue(last.rawBody().contains("lighthouse"), "the next turn carries the history: " + last.rawBody());
    } finally {
      tmux("kill-session", "-t", window);
    }
  }

  private static String lastUserText(Request request) {
    List<String> texts = new ArrayList<>();
    request.body().path("input").forEach(item -> {
      if ("user".equals(item.path("role").asText())) {
        texts.add(item.path("content").isTextual() ? item.path("content").asText()
            : item.path("content").path(0).path("text").asText());
      }
    });
    return texts.isEmpty() ? "" : texts.get(texts.size() - 1);
  }

  private List<String> chatCommand(String... arguments) {
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-XX:TieredStopAtLevel=1", "-Duser.home=" + dir, "-cp", System.getProperty("java.class.path"),
        "dev.talon.cli.TalonCli", "chat", "--url", talon.baseUrl()));
    command.addAll(List.of(arguments));
    return command;
  }

  private static List<String> quoted(List<String> command) {
    return command.stream().map(part -> "'" + part.replace("'", "'\\''") + "'").toList();
  }

  private static String tmux(String... arguments) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>(List.of("tmux"));
    command.addAll(List.of(arguments));
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    process.waitFor();
    return output;
  }

  private static String awaitScreen(String window, Predicate<String> ready) throws Exception {
    long deadline = System.nanoTime() + WAIT.toNanos();
    String screen = "";
    while (System.nanoTime() < deadline) {
      screen = tmux("capture-pane", "-p", "-J", "-S", "-200", "-t", window);
      if (ready.test(screen)) {
        return screen;
      }
      TimeUnit.MILLISECONDS.sleep(100); // polling the screen, bounded by the deadline
    }
    throw new AssertionError("the screen never showed what was awaited:\n" + screen);
  }

  private static void awaitGone(String window) throws Exception {
    long deadline = System.nanoTime() + WAIT.toNanos();
    while (tmux("has-session", "-t", window).isEmpty()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("the chat did not quit");
      }
      TimeUnit.MILLISECONDS.sleep(100); // polling, bounded by the deadline
    }
  }

  private static boolean onPath(String program) {
    for (String directory : System.getenv().getOrDefault("PATH", "").split(":")) {
      if (Files.isExecutable(Path.of(directory, program))) {
        return true;
      }
    }
    return false;
  }
}
