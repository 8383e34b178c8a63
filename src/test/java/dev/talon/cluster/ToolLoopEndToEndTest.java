package dev.talon.cluster;

import static dev.talon.testing.McpFixtures.npmServer;
import static dev.talon.testing.McpFixtures.quoted;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.config.ConfigLoader;
import dev.talon.config.TalonConfig;
import dev.talon.conversation.ConversationEntity;
import dev.talon.conversation.ConversationEntity.Status;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.conversation.ConversationEntity.TurnAccepted;
import dev.talon.conversation.ConversationFixtures;
import dev.talon.conversation.OutputItem;
import dev.talon.conversation.OutputItem.McpCall;
import dev.talon.conversation.TurnEvent;
import dev.talon.conversation.TurnResult;
import dev.talon.testing.McpFixtures;
import dev.talon.upstream.ModelRequest;
import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Request;
import dev.talon.testing.Script;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.StreamSupport;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Agents that act, on a whole node: the real failover runner against the fake upstream, which
 * scripts the model's tool calls, and the MCP reference servers from npm over stdio. What the
 * turn streams, what the model is sent back, and what the journal keeps.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ToolLoopEndToEndTest {
  static final Duration PATIENCE = Duration.ofSeconds(60);
  @TempDir static Path dataDir;
  @TempDir static Path files;
  FakeUpstream fake;
  TalonRuntime runtime;

  @BeforeAll
  void start() throws Exception {
    Files.writeString(files.resolve("notes.txt"), "the key is under the mat");
    Files.writeString(dataDir.resolve("secret.txt"), "not for the agent");
    fake = FakeUpstream.start();
    TalonConfig config = ConfigLoader.parse("""
        { agents: {
            defaults: { model: { primary: "local/a" }, tools: { allow: ["everything/echo", "everything/get-sum",
              "everything/trigger-long-running-operation"] } },
            list: [
              { id: "main", default: true },
              { id: "files", tools: { allow: ["fs/*"], deny: ["fs/write_file"] } },
              { id: "careful", tools: { allow: ["everything/*"], requireApproval: ["everything/echo"] } },
              { id: "brief", maxToolRounds: 2, tools: { allow: ["everything/echo"] } } ] },
          models: { mode: "replace", providers: {
            local: { baseUrl: "%s", api: "openai-responses", models: [{ id: "a" }] } } },
          talon: { mcp: { callTimeoutSeconds: 3, approvalTimeoutSeconds: 20, servers: {
            everything: { command: %s },
            fs: { command: %s, args: [%s] } } } } }
        """.formatted(fake.baseUrl(), quoted(npmServer("mcp-server-everything")),
        quoted(npmServer("mcp-server-filesystem")), quoted(files.toRealPath())), "tools.json5",
        Map.<String, String>of()::get);
    runtime = FailoverEndToEndTest.startNode(config, dataDir);
  }

  @AfterAll
  void stop() throws Exception {
    runtime.close();
    fake.close();
  }

  // ---- the model, as the fake plays it -------------------------------------------------------

  /** The tool results a request carries: the model's calls so far in this turn (and earlier ones). */
  static List<JsonNode> toolOutputs(Request request) {
    return StreamSupport.stream(request.body().path("input").spliterator(), false)
        .filter(item -> "function_call_output".equals(item.path("type").asText())).toList();
  }

  static String lastOutput(Request request) {
    List<JsonNode> outputs = toolOutputs(request);
    return outputs.isEmpty() ? "" : outputs.get(outputs.size() - 1).path("output").asText();
  }

  /** Plays the model: the script for each call, chosen by how many tool results it was sent. */
  void model(Function<Request, Script> play) {
    fake.setDefault(play);
  }

  /** Plays a model that makes {@code firstCall}, then, once it has seen tool results, says {@code answer}. */
  void model(Script firstCall, String answer) {
    model(request -> toolOutputs(request).isEmpty() ? firstCall : Script.reply(answer));
  }

  List<TurnEvent> turn(String session, String agent, String text) throws Exception {
    TurnAccepted accepted = assertInstanceOf(TurnAccepted.class, runtime.conversations()
        .startTurn(session, agent, null, ConversationFixtures.userSays(text), null)
        .toCompletableFuture().get(15, TimeUnit.SECONDS));
    return accepted.events().source().runWith(Sink.seq(), runtime.system())
        .toCompletableFuture().get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
  }

  Turn lastTurn(String session) throws Exception {
    List<Turn> turns = runtime.conversations().transcript(session).toCompletableFuture().get(15, TimeUnit.SECONDS)
        .turns();
    return turns.get(turns.size() - 1);
  }

  static <T extends TurnEvent> List<T> only(List<TurnEvent> events, Class<T> type) {
    return events.stream().filter(type::isInstance).map(type::cast).toList();
  }

  static List<McpCall> finished(List<TurnEvent> events) {
    return only(events, TurnEvent.ToolCallFinished.class).stream().map(TurnEvent.ToolCallFinished::call).toList();
  }

  static TurnEvent.Completed completed(List<TurnEvent> events) {
    return assertInstanceOf(TurnEvent.Completed.class, events.get(events.size() - 1), events.toString());
  }

  // ---- tests ---------------------------------------------------------------------------------

  @Test
  void theModelCallsToolsOverSeveralRoundsAndAnswersWithTheirResults() throws Exception {
    model(request -> switch (toolOutputs(request).size()) {
      case 0 -> Script.reply("Let me echo. ").toolCall("everything__echo", "{\"message\":\"hello tools\"}");
      case 1 -> Script.reply().toolCall("everything__get-sum", "{\"a\":2,\"b\":3}");
      default -> Script.reply("The echo said hello tools and 2+3=5.");
    });
    List<TurnEvent> events = turn("rounds", null, "echo, then add");

    assertEquals(1, only(events, TurnEvent.Started.class).size(), "one turn, one start: " + events);
    TurnEvent.ToolsListed listed = only(events, TurnEvent.ToolsListed.class).get(0);
    assertEquals("everything", listed.server());
    assertEquals(List.of("echo", "get-sum", "trigger-long-running-operation"),
        listed.tools().stream().map(TurnEvent.ListedTool::name).sorted().toList(), "only the allowed tools");
    List<McpCall> calls = finished(events);
    assertEquals(List.of("echo", "get-sum"), calls.stream().map(McpCall::tool).toList());
    assertTrue(calls.stream().allMatch(c -> c.status() == McpCall.Status.COMPLETED), calls.toString());
    assertTrue(calls.get(0).output().contains("hello tools"), calls.get(0).output());
    assertTrue(calls.get(1).output().contains("5"), calls.get(1).output());

    // Each call sent back what the tools said; the model was shown only the allowed tools.
    List<Request> requests = fake.requests().subList(fake.requests().size() - 3, fake.requests().size());
    assertEquals(calls.get(0).output(), lastOutput(requests.get(1)));
    assertEquals(calls.get(1).output(), lastOutput(requests.get(2)));
    List<String> shown = StreamSupport.stream(requests.get(0).body().path("tools").spliterator(), false)
        .map(tool -> tool.path("name").asText()).sorted().toList();
    assertEquals(List.of("everything__echo", "everything__get-sum", "everything__trigger-long-running-operation"),
        shown);

    OutputItem.Text answer = new OutputItem.Text("The echo said hello tools and 2+3=5.");
    assertEquals(List.of(new OutputItem.Text("Let me echo. "), calls.get(0), calls.get(1), answer),
        completed(events).result().output());
    Turn journaled = lastTurn("rounds");
    assertEquals(Status.COMPLETED, journaled.status());
    assertEquals(completed(events).result().output(), journaled.result().output());

    // The next turn's model sees the calls and their results as history.
    model(request -> Script.reply("Yes."));
    turn("rounds", null, "did it work?");
    String history = fake.requests().get(fake.requests().size() - 1).body().path("input").toString();
    assertTrue(history.contains("hello tools") && history.contains("everything__get-sum"), history);
  }

  @Test
  void aRequestMixesTheClientsOwnFunctionsWithTheAgentsTools() throws Exception {
    ModelRequest.Tool weather = new ModelRequest.Tool("get_weather", "The weather in a city",
        McpFixtures.json("{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}"), null);
    model(Script.reply().toolCall("everything__echo", "{\"message\":\"Paris\"}")
            .toolCall("get_weather", "{\"city\":\"Paris\"}"),
        "Sunny in Paris, and the echo said Paris.");
    ModelRequest asked = new ModelRequest(null, ConversationFixtures.userSays("weather in Paris?").input(),
        List.of(weather), null, null, null, null);
    TurnAccepted accepted = assertInstanceOf(TurnAccepted.class, runtime.conversations()
        .startTurn("mixed", null, null, asked, null).toCompletableFuture().get(15, TimeUnit.SECONDS));
    List<TurnEvent> events = accepted.events().source().runWith(Sink.seq(), runtime.system())
        .toCompletableFuture().get(PATIENCE.toSeconds(), TimeUnit.SECONDS);

    // The agent's tool ran; the client's function is the client's to run: the turn ends with it.
    assertEquals(McpCall.Status.COMPLETED, finished(events).get(0).status());
    TurnEvent.ToolCall forTheClient = only(events, TurnEvent.ToolCall.class).get(0);
    assertEquals("get_weather", forTheClient.name());
    assertTrue(only(events, TurnEvent.ToolCall.class).stream().noneMatch(c -> c.name().startsWith("everything__")),
        "the agent's calls never reach the client as its own: " + events);
    TurnResult result = completed(events).result();
    assertEquals("tool_calls", result.finishReason());
    assertInstanceOf(OutputItem.FunctionCall.class, result.output().get(result.output().size() - 1));

    ModelRequest answer = new ModelRequest(null, List.of(new ModelRequest.FunctionCallOutput(forTheClient.callId(),
        "sunny")), List.of(weather), null, null, null, null);
    runtime.conversations().startTurn("mixed", null, null, answer, null).toCompletableFuture()
        .get(15, TimeUnit.SECONDS);
    Turn next = awaitTurn("mixed", 2);
    assertEquals("Sunny in Paris, and the echo said Paris.", next.result().text());
  }

  /** The session's {@code number}th turn, once it has ended. */
  Turn awaitTurn(String session, int number) throws Exception {
    long deadline = System.nanoTime() + PATIENCE.toNanos();
    while (System.nanoTime() < deadline) {
      List<Turn> turns = runtime.conversations().transcript(session).toCompletableFuture().get(15, TimeUnit.SECONDS)
          .turns();
      if (turns.size() >= number && turns.get(number - 1).status() != Status.RUNNING) {
        return turns.get(number - 1);
      }
      Thread.onSpinWait();
    }
    throw new AssertionError("turn " + number + " of " + session + " did not end within " + PATIENCE);
  }

  @Test
  void parallelCallsRunAtTheSameTime() throws Exception {
    model(Script.reply()
            .toolCall("everything__trigger-long-running-operation", "{\"duration\":1,\"steps\":1}")
            .toolCall("everything__trigger-long-running-operation", "{\"duration\":1,\"steps\":1}"),
        "Both done.");
    List<TurnEvent> events = turn("parallel", null, "two slow things");
    List<Integer> starts = new ArrayList<>();
    List<Integer> ends = new ArrayList<>();
    for (int i = 0; i < events.size(); i++) {
      if (events.get(i) instanceof TurnEvent.ToolCallStarted) {
        starts.add(i);
      } else if (events.get(i) instanceof TurnEvent.ToolCallFinished) {
        ends.add(i);
      }
    }
    assertEquals(2, starts.size());
    assertTrue(starts.get(1) < ends.get(0), "the second call started before the first ended: " + events);
    assertTrue(finished(events).stream().allMatch(c -> c.status() == McpCall.Status.COMPLETED));
    assertEquals("Both done.", completed(events).result().text());
  }

  @Test
  void aCallOutsideTheAllowListIsRefusedBackToTheModelAndNeverRun() throws Exception {
    model(Script.reply().toolCall("everything__get-env", "{}"),
        "I may not read the environment.");
    List<TurnEvent> events = turn("refused", null, "print the environment");
    assertTrue(only(events, TurnEvent.ToolCallStarted.class).isEmpty(), "never started: " + events);
    McpCall refused = finished(events).get(0);
    assertEquals(McpCall.Status.REFUSED, refused.status());
    assertTrue(refused.output().contains("not allowed"), refused.output());
    assertEquals(refused.output(), lastOutput(fake.requests().get(fake.requests().size() - 1)));
    assertEquals("I may not read the environment.", completed(events).result().text());
  }

  @Test
  void aFilesystemAgentReadsItsFolderAndNothingOutsideIt() throws Exception {
    String inside = files.toRealPath().resolve("notes.txt").toString();
    String outside = dataDir.toRealPath().resolve("secret.txt").toString();
    model(request -> switch (toolOutputs(request).size()) {
      case 0 -> Script.reply().toolCall("fs__read_text_file", "{\"path\":" + quoted(inside) + "}");
      case 1 -> Script.reply().toolCall("fs__read_text_file", "{\"path\":" + quoted(outside) + "}");
      case 2 -> Script.reply().toolCall("fs__write_file", "{\"path\":" + quoted(inside) + ",\"content\":\"x\"}");
      default -> Script.reply("Done.");
    });
    List<McpCall> calls = finished(turn("files", "files", "read my notes and the secret"));
    assertEquals(McpCall.Status.COMPLETED, calls.get(0).status());
    assertTrue(calls.get(0).output().contains("the key is under the mat"), calls.get(0).output());
    assertEquals(McpCall.Status.FAILED, calls.get(1).status(), "the server refuses a path outside its folder");
    assertTrue(!calls.get(1).output().contains("not for the agent"), calls.get(1).output());
    assertEquals(McpCall.Status.REFUSED, calls.get(2).status(), "denied to the agent");
    assertEquals("the key is under the mat", Files.readString(files.resolve("notes.txt")));
  }

  @Test
  void aHangingToolEndsAtItsTimeoutAndTheModelIsTold() throws Exception {
    model(Script.reply().toolCall("everything__trigger-long-running-operation", "{\"duration\":30,\"steps\":1}"),
        "It took too long.");
    List<TurnEvent> events = turn("hang", null, "wait a long time");
    McpCall call = finished(events).get(0);
    assertEquals(McpCall.Status.FAILED, call.status());
    assertTrue(call.output().contains("did not answer"), call.output());
    assertEquals("It took too long.", completed(events).result().text());
  }

  @Test
  void maxToolRoundsEndsTheLoopWithAnAnswer() throws Exception {
    model(request -> request.body().path("tool_choice").asText().equals("none")
        ? Script.reply("I stop here.")
        : Script.reply().toolCall("everything__echo", "{\"message\":\"again\"}"));
    List<TurnEvent> events = turn("rounds-limit", "brief", "echo forever");
    List<McpCall> calls = finished(events);
    assertEquals(3, calls.size(), calls.toString());
    assertEquals(List.of(McpCall.Status.COMPLETED, McpCall.Status.COMPLETED, McpCall.Status.REFUSED),
        calls.stream().map(McpCall::status).toList());
    assertTrue(calls.get(2).output().contains("all 2 of its tool rounds"), calls.get(2).output());
    assertEquals("I stop here.", completed(events).result().text());
  }

  /** A turn being streamed: all its events once it ends, and the first event of a kind as it comes. */
  final class Running<T extends TurnEvent> {
    final String session;
    final String turnId;
    final CompletableFuture<T> first = new CompletableFuture<>();
    final CompletableFuture<List<TurnEvent>> all;

    Running(String session, String agent, String text, Class<T> awaited) throws Exception {
      this.session = session;
      TurnAccepted accepted = assertInstanceOf(TurnAccepted.class, runtime.conversations()
          .startTurn(session, agent, null, ConversationFixtures.userSays(text), null)
          .toCompletableFuture().get(15, TimeUnit.SECONDS));
      turnId = accepted.turnId();
      all = accepted.events().source()
          .map(event -> {
            if (awaited.isInstance(event)) {
              first.complete(awaited.cast(event));
            }
            return event;
          })
          .runWith(Sink.seq(), runtime.system()).toCompletableFuture();
    }

    T awaited() throws Exception {
      return first.get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
    }

    List<TurnEvent> events() throws Exception {
      return all.get(PATIENCE.toSeconds(), TimeUnit.SECONDS);
    }

    ConversationEntity.ApproveReply approve(boolean approved, String reason) throws Exception {
      return ClusterSharding.get(runtime.system()).entityRefFor(ConversationEntity.TYPE_KEY, session)
          .<ConversationEntity.ApproveReply>ask(replyTo -> new ConversationEntity.Approve(turnId, null, approved,
              reason, replyTo), Duration.ofSeconds(15))
          .toCompletableFuture().get(15, TimeUnit.SECONDS);
    }
  }

  @Test
  void aCallWaitsForApprovalAndRunsOnceApproved() throws Exception {
    model(Script.reply().toolCall("everything__echo", "{\"message\":\"may I\"}"),
        "Approved and done.");
    Running<TurnEvent.ApprovalRequired> turn = new Running<>("approval", "careful", "echo with approval",
        TurnEvent.ApprovalRequired.class);
    String callId = turn.awaited().call().callId();
    assertEquals(new ConversationEntity.Decided(List.of(callId)), turn.approve(true, null));
    assertInstanceOf(ConversationEntity.NothingToApprove.class, turn.approve(true, null), "decided once");
    List<TurnEvent> events = turn.events();
    assertEquals(McpCall.Status.COMPLETED, finished(events).get(0).status());
    assertEquals("Approved and done.", completed(events).result().text());
  }

  @Test
  void aCallTurnedDownIsNeverRunAndTheModelIsToldWhy() throws Exception {
    model(Script.reply().toolCall("everything__echo", "{\"message\":\"may I\"}"),
        "Understood.");
    Running<TurnEvent.ApprovalRequired> turn = new Running<>("denied", "careful", "echo with approval",
        TurnEvent.ApprovalRequired.class);
    turn.awaited();
    turn.approve(false, "not today");
    List<TurnEvent> events = turn.events();
    assertTrue(only(events, TurnEvent.ToolCallStarted.class).isEmpty(), events.toString());
    McpCall refused = finished(events).get(0);
    assertEquals(McpCall.Status.REFUSED, refused.status());
    assertTrue(refused.output().contains("not today"), refused.output());
    assertEquals(refused.output(), lastOutput(fake.requests().get(fake.requests().size() - 1)));
  }

  @Test
  void aServerThatDiesMidCallFailsTheCallAndTheTurnGoesOn() throws Exception {
    model(Script.reply().toolCall("everything__trigger-long-running-operation", "{\"duration\":30,\"steps\":1}"),
        "The server went away.");
    Running<TurnEvent.ToolCallStarted> turn = new Running<>("crash", null, "a long call", TurnEvent.ToolCallStarted.class);
    turn.awaited();
    List<ProcessHandle> servers = ProcessHandle.current().descendants()
        .filter(p -> p.info().commandLine().orElse("").contains("mcp-server-everything")).toList();
    assertTrue(!servers.isEmpty(), "the everything server runs under this JVM");
    servers.forEach(ProcessHandle::destroyForcibly);
    List<TurnEvent> events = turn.events();
    McpCall call = finished(events).get(0);
    assertEquals(McpCall.Status.FAILED, call.status());
    assertTrue(call.output().contains("went down") || call.output().contains("is down"), call.output());
    assertEquals("The server went away.", completed(events).result().text());

    // Restarted on the next use, after its backoff.
    // Until then, a call of its tools is refused saying the server is down.
    model(Script.reply().toolCall("everything__echo", "{\"message\":\"back\"}"), "Back.");
    List<McpCall> next = List.of();
    long deadline = System.nanoTime() + PATIENCE.toNanos();
    for (int attempt = 0; System.nanoTime() < deadline
        && next.stream().noneMatch(c -> c.status() == McpCall.Status.COMPLETED); attempt++) {
      next = finished(turn("crash-after-" + attempt, null, "echo again"));
      assertTrue(next.get(0).status() == McpCall.Status.COMPLETED || next.get(0).output().contains("everything"),
          next.toString());
    }
    assertEquals(McpCall.Status.COMPLETED, next.get(0).status(), next.toString());
  }

  @Test
  void aCancelledTurnEndsItsRunningCallAsInterruptedAndTheModelKnowsNextTime() throws Exception {
    model(Script.reply().toolCall("everything__trigger-long-running-operation", "{\"duration\":30,\"steps\":1}"),
        "Noted.");
    Running<TurnEvent.ToolCallStarted> turn = new Running<>("cancel", null, "a long call",
        TurnEvent.ToolCallStarted.class);
    turn.awaited();
    runtime.conversations().cancel("cancel", turn.turnId).toCompletableFuture().get(15, TimeUnit.SECONDS);
    List<TurnEvent> events = turn.events();
    assertEquals(ConversationEntity.CANCELLED, assertInstanceOf(TurnEvent.Failed.class,
        events.get(events.size() - 1)).kind());
    Turn cancelled = lastTurn("cancel");
    assertEquals(Status.FAILED, cancelled.status());
    assertEquals(McpCall.Status.INTERRUPTED, cancelled.toolCalls().get(0).status());

    turn("cancel", null, "what happened?");
    String history = fake.requests().get(fake.requests().size() - 1).body().path("input").toString();
    assertTrue(history.contains("client cancelled"), history);
  }
}
