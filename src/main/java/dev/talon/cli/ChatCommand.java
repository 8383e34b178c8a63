package dev.talon.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.config.ConfigException;
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
      return pipe(client);
    }
    try (Terminal terminal = TerminalBuilder.builder().system(true).build()) {
      return new Conversation(client, terminal).run();
    }
  }

  /** Where the gateway listens and its token come from the config when there is one. */
  private Optional<TalonConfig> config() {
    Path file = root.configFile(null);
    if (url != null && !Files.exists(file)) {
      return Optional.empty();
    }
    try {
      return Optional.of(root.loadConfig(null));
    } catch (ConfigException e) {
      if (!Files.exists(file)) {
        return Optional.empty(); // no config: the defaults, as a fresh serve would have them
      }
      throw e;
    }
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

  /** One turn per input line, only the answers on stdout; notices and errors on stderr. */
  private int pipe(GatewayClient client) throws IOException, InterruptedException {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    int status = 0;
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      if (line.isBlank()) {
        continue;
      }
      Plain answer = new Plain(root.out, root.err);
      try {
        client.turn(session, model, line, answer);
      } catch (IOException e) {
        root.err.println("talon chat: " + e.getMessage());
        return 1;
      }
      root.out.println();
      status |= answer.failed ? 1 : 0;
    }
    return status;
  }

  /** A pipe's reader: the answer's text and nothing else on stdout. */
  private static final class Plain implements GatewayClient.Events {
    private final PrintStream out;
    private final PrintStream err;
    boolean failed;

    Plain(PrintStream out, PrintStream err) {
      this.out = out;
      this.err = err;
    }

    @Override
    public void started(String responseId) {}

    @Override
    public void reasoning(String delta) {}

    @Override
    public void text(String delta) {
      out.print(delta);
      out.flush();
    }

    @Override
    public void compaction(boolean done, JsonNode event) {}

    @Override
    public void ended(JsonNode response) {
      failed = !"completed".equals(response.path("status").asText());
      Notices.of(response).forEach(notice -> err.println("talon chat: " + notice));
    }

    @Override
    public void error(String message) {
      err.println("talon chat: " + message);
    }
  }

  /** The interactive chat: a prompt with line editing and history, styled answers and notices. */
  private final class Conversation implements GatewayClient.Events {
    private final GatewayClient client;
    private final Terminal terminal;
    private final PrintWriter out;
    private final AtomicReference<String> running = new AtomicReference<>();
    private boolean reasoningOpen;
    private boolean textStarted;

    Conversation(GatewayClient client, Terminal terminal) {
      this.client = client;
      this.terminal = terminal;
      this.out = terminal.writer();
    }

    int run() throws InterruptedException {
      LineReader reader = LineReaderBuilder.builder().terminal(terminal).appName("talon")
          .variable(LineReader.HISTORY_FILE, historyFile()).build();
      terminal.handle(Terminal.Signal.INT, signal -> stop()); // while an answer streams
      dim("talon chat at " + client.baseUrl() + ", session \"" + session + "\". " + HELP);
      showEarlierTurns();
      while (true) {
        String line;
        try {
          line = reader.readLine("you> ").strip();
        } catch (UserInterruptException e) {
          continue; // Ctrl-C at the prompt clears the line
        } catch (EndOfFileException e) {
          return 0;
        }
        if (line.isEmpty()) {
          continue;
        }
        if (!command(line)) {
          return 0;
        }
      }
    }

    /** A slash command or a turn; false to leave. */
    private boolean command(String line) throws InterruptedException {
      String[] words = line.split("\\s+", 2);
      switch (words[0]) {
        case "/quit", "/exit" -> {
          return false;
        }
        case "/new" -> {
          session = "chat-" + UUID.randomUUID().toString().substring(0, 8);
          dim("new conversation, session \"" + session + "\" (talon chat --session " + session + " to come back)");
        }
        case "/model" -> {
          model = words.length > 1 ? words[1].strip() : null;
          dim(model == null ? "the agent's primary model answers" : "asking " + model + " first");
        }
        case "/compact" -> compact();
        case "/help" -> dim(HELP);
        default -> {
          if (line.startsWith("/")) {
            notice("unknown command " + words[0] + "; " + HELP);
          } else {
            send(line);
          }
        }
      }
      return true;
    }

    private void send(String text) throws InterruptedException {
      reasoningOpen = false;
      textStarted = false;
      try {
        client.turn(session, model, text, this);
      } catch (IOException e) {
        notice("talon did not answer: " + e.getMessage());
      } finally {
        running.set(null);
      }
    }

    private void compact() throws InterruptedException {
      try {
        JsonNode result = client.compact(session);
        JsonNode compaction = result.path("compaction");
        dim("compacted: " + compaction.path("tokens_before").asText("?") + " -> "
            + compaction.path("tokens_after").asText("?") + " tokens");
      } catch (IOException e) {
        notice("not compacted: " + e.getMessage());
      }
    }

    private void stop() {
      String responseId = running.get();
      if (responseId != null) {
        try {
          client.cancel(responseId);
        } catch (IOException e) {
          notice("could not stop the answer: " + e.getMessage());
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }

    private void showEarlierTurns() throws InterruptedException {
      try {
        int count = client.turns(session, 0, 1).path("turn_count").asInt();
        if (count == 0) {
          return;
        }
        dim("earlier in this conversation (" + count + " turns):");
        for (JsonNode turn : client.turns(session, Math.max(0, count - SHOWN_TURNS), SHOWN_TURNS).path("turns")) {
          dim("you> " + Transcript.input(turn));
          dim(Transcript.output(turn));
        }
      } catch (IOException e) {
        notice("talon is not reachable at " + client.baseUrl() + ": " + e.getMessage());
      }
    }

    @Override
    public void started(String responseId) {
      running.set(responseId);
    }

    @Override
    public void reasoning(String delta) {
      if (!reasoningOpen) {
        reasoningOpen = true;
        print("thinking: ", AttributedStyle.DEFAULT.faint().italic());
      }
      print(delta, AttributedStyle.DEFAULT.faint().italic());
    }

    @Override
    public void text(String delta) {
      if (reasoningOpen && !textStarted) {
        out.println();
        out.println();
      }
      textStarted = true;
      print(delta, AttributedStyle.DEFAULT);
    }

    @Override
    public void compaction(boolean done, JsonNode event) {
      notice(done ? "conversation compacted: " + event.path("tokens_before").asText("?") + " -> "
          + event.path("tokens_after").asText("?") + " tokens" : "compacting the conversation first...");
    }

    @Override
    public void ended(JsonNode response) {
      out.println();
      Notices.of(response).forEach(this::notice);
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
      dim("  " + String.join(" · ", facts));
    }

    @Override
    public void error(String message) {
      notice(message);
    }

    private void notice(String text) {
      println(text, AttributedStyle.DEFAULT.foreground(AttributedStyle.YELLOW));
    }

    private void dim(String text) {
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
