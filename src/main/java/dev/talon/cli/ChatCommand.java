package dev.talon.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.config.GatewaySettings;
import dev.talon.config.TalonConfig;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicReference;
import org.jline.reader.EndOfFileException;
import org.jline.reader.LineReader;
import org.jline.reader.LineReaderBuilder;
import org.jline.reader.UserInterruptException;
import org.jline.terminal.Terminal;
import org.jline.terminal.TerminalBuilder;
import org.jline.utils.AttributedStringBuilder;
import org.jline.utils.AttributedStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code talon chat}: a conversation with a running Talon from the terminal, over the gateway's
 * public API. At a prompt it streams answers with line editing and history; in a pipe
 * ({@code echo hi | talon chat}) it prints only the answers, one per input line.
 */
@Command(name = "chat",
    description = "Talk to a running Talon: streamed answers, history kept under the session key.")
final class ChatCommand implements Callable<Integer> {
  static final String DEFAULT_SESSION = "chat";
  private static final String HELP = "/model REF to switch models, /new for a new conversation, /compact to"
      + " summarise old turns now, /quit (or Ctrl-D) to leave; Ctrl-C stops an answer";
  /** Turns of an earlier session shown when the chat starts again. */
  private static final int SHOWN_TURNS = 3;

  @ParentCommand TalonCli root;

  @Option(names = "--url", description = "Talon's address (default: http://127.0.0.1:<gateway.port>).")
  String url;

  @Option(names = "--port", description = "Talon's gateway port (default: gateway.port, else 18789).")
  Integer port;

  @Option(names = "--model", paramLabel = "REF", description = "A model ref or alias (default: the agent's primary).")
  String model;

  @Option(names = "--session", paramLabel = "KEY", defaultValue = DEFAULT_SESSION,
      description = "The conversation to continue or start (default: ${DEFAULT-VALUE}).")
  String session;

  @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "10",
      description = "How long to wait to connect to Talon (default: ${DEFAULT-VALUE}).")
  int timeoutSeconds;

  @Override
  public Integer call() throws Exception {
    Optional<TalonConfig> config = config();
    GatewayClient client = new GatewayClient(baseUrl(config), token(config), Duration.ofSeconds(timeoutSeconds));
    if (System.console() == null) {
      Conversation conversation = new Conversation(client, new Piped(root.out, root.err));
      BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
      for (String line = in.readLine(); line != null && conversation.take(line); line = in.readLine()) {
        // one turn (or command) per line
      }
      return conversation.failed ? 1 : 0;
    }
    try (Terminal terminal = TerminalBuilder.builder().system(true).build()) {
      return prompt(client, terminal);
    }
  }

  /** Where the gateway listens and its token come from the config when there is one. */
  private Optional<TalonConfig> config() {
    // no config file: the defaults, as a fresh serve would have them
    return Files.exists(root.configFile(null)) ? Optional.of(root.loadConfig(null)) : Optional.empty();
  }

  private String baseUrl(Optional<TalonConfig> config) {
    if (url != null) {
      return url;
    }
    int gatewayPort = port != null ? port : config.map(c -> c.gateway().port()).orElse(GatewaySettings.DEFAULT_PORT);
    String bind = config.map(c -> c.gateway().bind()).orElse("127.0.0.1");
    String host = GatewaySettings.isLoopback(bind) ? bind : "127.0.0.1"; // a wildcard bind is reached locally
    return "http://" + host + ":" + gatewayPort;
  }

  private Optional<String> token(Optional<TalonConfig> config) {
    String fromEnv = root.env.get("TALON_GATEWAY_TOKEN");
    return fromEnv != null && !fromEnv.isBlank() ? Optional.of(fromEnv)
        : config.flatMap(c -> c.gateway().authToken());
  }

  /** At a prompt: line editing and history, earlier turns shown, Ctrl-C stops an answer. */
  private int prompt(GatewayClient client, Terminal terminal) throws InterruptedException {
    Conversation conversation = new Conversation(client, new Styled(terminal));
    LineReader reader = LineReaderBuilder.builder().terminal(terminal).appName("talon")
        .variable(LineReader.HISTORY_FILE, historyFile()).build();
    terminal.handle(Terminal.Signal.INT, signal -> conversation.stop()); // while an answer streams
    conversation.screen.aside("talon chat at " + client.baseUrl() + ", session \"" + session + "\". " + HELP);
    conversation.showEarlierTurns();
    while (true) {
      try {
        if (!conversation.take(reader.readLine("you> "))) {
          return 0;
        }
      } catch (UserInterruptException e) {
        // Ctrl-C at the prompt clears the line
      } catch (EndOfFileException e) {
        return 0;
      }
    }
  }

  /** Where a conversation shows what happens. */
  interface Screen {
    /** The model's answer, as it streams. */
    void answer(String text);

    /** The model's reasoning, as it streams, before the answer. */
    void thinking(String text);

    /** The answer is over. */
    void endAnswer();

    /** Something the person should know: a failover, a failure, a compaction. */
    void notice(String text);

    /** Context around the answers: the model that answered, usage, help. */
    void aside(String text);
  }

  /** A pipe: the answers alone on stdout, notices on stderr, no asides, no escape codes. */
  private record Piped(PrintStream out, PrintStream err) implements Screen {
    @Override
    public void answer(String text) {
      out.print(text);
      out.flush();
    }

    @Override
    public void thinking(String text) {}

    @Override
    public void endAnswer() {
      out.println();
    }

    @Override
    public void notice(String text) {
      err.println("talon chat: " + text);
    }

    @Override
    public void aside(String text) {}
  }

  /** A terminal: reasoning dimmed and apart, notices in colour, asides dimmed. */
  private static final class Styled implements Screen {
    private final Terminal terminal;
    private final PrintWriter out;
    private boolean thinking;

    Styled(Terminal terminal) {
      this.terminal = terminal;
      this.out = terminal.writer();
    }

    @Override
    public void answer(String text) {
      if (thinking) {
        out.println();
        out.println();
        thinking = false;
      }
      print(text, AttributedStyle.DEFAULT);
    }

    @Override
    public void thinking(String text) {
      if (!thinking) {
        thinking = true;
        print("thinking: ", AttributedStyle.DEFAULT.faint().italic());
      }
      print(text, AttributedStyle.DEFAULT.faint().italic());
    }

    @Override
    public void endAnswer() {
      thinking = false;
      out.println();
    }

    @Override
    public void notice(String text) {
      println(text, AttributedStyle.DEFAULT.foreground(AttributedStyle.YELLOW));
    }

    @Override
    public void aside(String text) {
      println(text, AttributedStyle.DEFAULT.faint());
    }

    private void println(String text, AttributedStyle style) {
      print(text, style);
      out.println();
    }

    private void print(String text, AttributedStyle style) {
      out.print(new AttributedStringBuilder().style(style).append(text).toAnsi(terminal));
      out.flush();
    }
  }

  /** The conversation: slash commands and turns, each turn's events shown on the screen. */
  private final class Conversation implements GatewayClient.Events {
    private final GatewayClient client;
    final Screen screen;
    private final AtomicReference<String> running = new AtomicReference<>();
    /** A turn did not complete (a pipe's exit status says so). */
    boolean failed;

    Conversation(GatewayClient client, Screen screen) {
      this.client = client;
      this.screen = screen;
    }

    /** A slash command or a turn; false to leave. */
    boolean take(String input) throws InterruptedException {
      String line = input.strip();
      if (line.isEmpty()) {
        return true;
      }
      String[] words = line.split("\\s+", 2);
      switch (words[0]) {
        case "/quit", "/exit" -> {
          return false;
        }
        case "/new" -> {
          session = "chat-" + UUID.randomUUID().toString().substring(0, 8);
          screen.aside("new conversation, session \"" + session + "\" (talon chat --session " + session
              + " to come back)");
        }
        case "/model" -> {
          model = words.length > 1 ? words[1].strip() : null;
          screen.aside(model == null ? "the agent's primary model answers" : "asking " + model + " first");
        }
        case "/compact" -> compact();
        case "/help" -> screen.aside(HELP);
        default -> {
          if (line.startsWith("/")) {
            screen.notice("unknown command " + words[0] + "; " + HELP);
          } else {
            send(line);
          }
        }
      }
      return true;
    }

    private void send(String text) throws InterruptedException {
      try {
        client.turn(session, model, text, this);
      } catch (IOException e) {
        failed = true;
        screen.notice("talon did not answer: " + e.getMessage());
      } finally {
        running.set(null);
      }
    }

    private void compact() throws InterruptedException {
      try {
        JsonNode compaction = client.compact(session);
        screen.aside("compacted " + compaction.path("folded_turns").asText("?") + " turns: "
            + compaction.path("tokens_before").asText("?") + " -> " + compaction.path("tokens_after").asText("?")
            + " tokens");
      } catch (IOException e) {
        screen.notice("not compacted: " + e.getMessage());
      }
    }

    void stop() {
      String responseId = running.get();
      if (responseId != null) {
        try {
          client.cancel(responseId);
        } catch (IOException e) {
          screen.notice("could not stop the answer: " + e.getMessage());
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }

    void showEarlierTurns() throws InterruptedException {
      try {
        int count = client.turns(session, 0, 1).path("turn_count").asInt();
        if (count == 0) {
          return;
        }
        screen.aside("earlier in this conversation (" + count + " turns):");
        for (JsonNode turn : client.turns(session, Math.max(0, count - SHOWN_TURNS), SHOWN_TURNS).path("turns")) {
          screen.aside("you> " + Transcript.input(turn));
          screen.aside(Transcript.output(turn));
        }
      } catch (IOException e) {
        screen.notice("talon is not reachable at " + client.baseUrl() + ": " + e.getMessage());
      }
    }

    @Override
    public void started(String responseId) {
      running.set(responseId);
    }

    @Override
    public void reasoning(String delta) {
      screen.thinking(delta);
    }

    @Override
    public void text(String delta) {
      screen.answer(delta);
    }

    @Override
    public void compaction(boolean done, JsonNode event) {
      screen.notice(done ? "conversation compacted: " + event.path("tokens_before").asText("?") + " -> "
          + event.path("tokens_after").asText("?") + " tokens" : "compacting the conversation first...");
    }

    @Override
    public void toolCall(JsonNode item) {
      JsonNode error = item.path("error").path("content").path(0).path("text");
      screen.notice("tool " + item.path("server_label").asText() + "/" + item.path("name").asText() + ": "
          + item.path("status").asText() + (error.isTextual() ? " (" + error.asText() + ")" : ""));
    }

    @Override
    public void approvalRequired(JsonNode event) {
      screen.notice("tool " + event.path("server_label").asText() + "/" + event.path("name").asText()
          + " waits for approval: POST " + event.path("approve_path").asText());
    }

    @Override
    public void ended(JsonNode response) {
      screen.endAnswer();
      failed |= !"completed".equals(response.path("status").asText());
      Notices.of(response).forEach(screen::notice);
      JsonNode usage = response.path("usage");
      List<String> facts = new ArrayList<>();
      facts.add(response.path("model").asText());
      if (usage.has("input_tokens")) {
        facts.add(usage.path("input_tokens").asInt() + " in / " + usage.path("output_tokens").asInt() + " out");
      }
      JsonNode cost = response.path("talon").path("cost_usd");
      if (cost.isNumber() && cost.asDouble() > 0) {
        facts.add(String.format("$%.4f", cost.asDouble()));
      }
      screen.aside("  " + String.join(" · ", facts));
    }
  }

  private static Path historyFile() {
    return Path.of(System.getProperty("user.home"), ".talon", "chat_history");
  }

  /** What a person should know about how a turn went, beyond its text. */
  static final class Notices {
    private Notices() {}

    static List<String> of(JsonNode response) {
      List<String> notices = new ArrayList<>();
      for (JsonNode change : response.path("talon").path("switches")) {
        notices.add("failed over from " + change.path("from").asText() + " to " + change.path("to").asText()
            + " (" + change.path("reason").asText() + ")");
      }
      String status = response.path("status").asText();
      if (status.equals("cancelled")) {
        notices.add("stopped");
      } else if (status.equals("incomplete")) {
        notices.add("the answer was cut short: " + response.path("incomplete_details").path("reason").asText());
      } else if (status.equals("failed")) {
        notices.add("the turn failed: " + response.path("error").path("message").asText());
      }
      return notices;
    }
  }

  /** The text of a turn as the conversation API gives it back. */
  static final class Transcript {
    private Transcript() {}

    static String input(JsonNode turn) {
      List<String> texts = new ArrayList<>();
      for (JsonNode item : turn.path("input")) {
        if (item.path("role").asText().equals("user") && item.path("content").isTextual()) {
          texts.add(item.path("content").asText());
        }
      }
      return String.join("\n", texts);
    }

    static String output(JsonNode turn) {
      List<String> texts = new ArrayList<>();
      for (JsonNode item : turn.path("output")) {
        for (JsonNode part : item.path("content")) {
          texts.add(part.path("text").asText());
        }
      }
      return texts.isEmpty() ? "(" + turn.path("status").asText() + ")" : String.join("\n", texts);
    }
  }
}
