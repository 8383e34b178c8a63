package dev.talon.tools;

import static dev.talon.testing.McpFixtures.PATIENCE;
import static dev.talon.testing.McpFixtures.await;
import static dev.talon.testing.McpFixtures.config;
import static dev.talon.testing.McpFixtures.failure;
import static dev.talon.testing.McpFixtures.json;
import static dev.talon.testing.McpFixtures.npmServer;
import static dev.talon.testing.McpFixtures.quoted;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.config.TalonConfig;
import dev.talon.tools.ServerStatus.State;
import dev.talon.tools.ToolFailure.Reason;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Talon's MCP client against the reference servers from npm, run as child processes over stdio. */
class McpStdioTest {
  static final ActorTestKit testKit = ActorTestKit.create();
  private McpServers servers;

  @TempDir Path dir;

  @AfterAll
  static void shutdown() {
    testKit.shutdownTestKit();
  }

  @AfterEach
  void stopServers() throws Exception {
    if (servers != null) {
      await(servers.stop());
    }
  }

  private McpServers start(String mcp) {
    servers = McpServers.start(testKit.system(), config(mcp).talon().mcp());
    return servers;
  }

  private String everything(String extra) {
    return "{ servers: { everything: { command: " + quoted(npmServer("mcp-server-everything")) + extra + " } } }";
  }

  private ServerStatus status(String id) throws Exception {
    return await(servers.status()).stream().filter(s -> s.id().equals(id)).findFirst().orElseThrow();
  }

  @Test
  void listsAndCallsTheToolsOfServerEverything() throws Exception {
    start(everything(""));
    assertEquals(State.IDLE, status("everything").state(), "servers start on first use");
    assertEquals(Reason.UNKNOWN_SERVER, failure(servers.status("nothing"), Duration.ofSeconds(5)).reason());

    List<ToolSpec> tools = await(servers.tools("everything"));
    Set<String> names = new TreeSet<>(tools.stream().map(ToolSpec::name).toList());
    assertTrue(names.containsAll(List.of("echo", "get-sum", "trigger-long-running-operation")), names.toString());
    ToolSpec echo = tools.stream().filter(t -> t.name().equals("echo")).findFirst().orElseThrow();
    assertEquals("everything/echo", echo.qualifiedName());
    assertEquals("Echoes back the input string", echo.description());
    assertEquals("string", echo.inputSchema().at("/properties/message/type").asText(), echo.inputSchema().toString());

    ToolResult echoed = await(servers.call("everything", "echo", json("{\"message\": \"hello, tools\"}")));
    assertEquals("Echo: hello, tools", echoed.text());
    assertFalse(echoed.error());
    assertFalse(echoed.truncated());
    assertEquals("The sum of 2 and 3 is 5.",
        await(servers.call("everything", "get-sum", json("{\"a\": 2, \"b\": 3}"))).text());

    ServerStatus ready = status("everything");
    assertEquals(State.READY, ready.state());
    assertTrue(ready.pid().isPresent());
    assertTrue(ready.detail().startsWith("mcp-servers/everything"), ready.detail());
  }

  @Test
  void theProcessGetsOnlyItsConfiguredVariablesNotTalonsEnvironment() throws Exception {
    start(everything(", env: { TALON_TEST_MARK: 'set by the config' }"));
    JsonNode env = json(await(servers.call("everything", "get-env", null)).text());
    assertEquals("set by the config", env.path("TALON_TEST_MARK").asText());
    Set<String> names = new TreeSet<>();
    env.fieldNames().forEachRemaining(names::add);
    names.removeAll(Set.of("HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER", "TALON_TEST_MARK"));
    assertEquals(Set.of(), names, "inherited from Talon's environment");
  }

  @Test
  void readsAFileInsideItsDirectoryAndTheServerRefusesOneOutside() throws Exception {
    Path allowed = Files.createDirectory(dir.resolve("allowed"));
    Files.writeString(allowed.resolve("note.txt"), "what the agent may read");
    Path outside = Files.writeString(dir.resolve("secret.txt"), "what it may not");
    start("{ servers: { fs: { command: " + quoted(npmServer("mcp-server-filesystem")) + ", args: ["
        + quoted(allowed) + "] } } }");

    assertTrue(await(servers.tools("fs")).stream().anyMatch(t -> t.name().equals("read_text_file")));
    ToolResult read = await(servers.call("fs", "read_text_file",
        json("{\"path\": " + quoted(allowed.resolve("note.txt")) + "}")));
    assertEquals("what the agent may read", read.text());
    assertFalse(read.error());

    ToolResult refused = await(servers.call("fs", "read_text_file", json("{\"path\": " + quoted(outside) + "}")));
    assertTrue(refused.error(), refused.toString());
    assertTrue(refused.text().contains("Access denied"), refused.text());
  }

  @Test
  void aKilledServerIsDownAtOnceThenRestartedAndAnswersAgain() throws Exception {
    start("{ restartBackoffInitialMs: 1500, " + everything("").substring(1));
    await(servers.call("everything", "echo", json("{\"message\": \"first\"}")));
    long pid = status("everything").pid().orElseThrow();

    ProcessHandle.of(pid).orElseThrow().destroyForcibly();
    TestProbe<Void> probe = testKit.createTestProbe();
    ServerStatus down = probe.awaitAssert(PATIENCE, () -> {
      ServerStatus s = status("everything");
      assertEquals(State.DOWN, s.state());
      return s;
    });
    assertTrue(down.detail().startsWith("exited with code 137"), down.detail());

    ToolFailure refused = failure(servers.call("everything", "echo", json("{\"message\": \"meanwhile\"}")),
        Duration.ofSeconds(1));
    assertEquals(Reason.DOWN, refused.reason());
    assertEquals("everything", refused.server());
    assertTrue(refused.getMessage().startsWith("MCP server \"everything\" is down: exited with code 137"),
        refused.getMessage());

    ServerStatus back = probe.awaitAssert(PATIENCE, () -> {
      ServerStatus s = status("everything");
      assertEquals(State.READY, s.state());
      return s;
    });
    assertEquals(1, back.restarts());
    assertTrue(back.pid().orElseThrow() != pid);
    assertEquals("Echo: again", await(servers.call("everything", "echo", json("{\"message\": \"again\"}"))).text());
  }

  @Test
  void aServerThatCannotStartFailsEveryCallAtOnceNamingItself() throws Exception {
    start("{ startTimeoutSeconds: 60, servers: { broken: { command: " + quoted(dir.resolve("no-such-program"))
        + " }, lost: { command: 'true', cwd: " + quoted(dir.resolve("no-such-dir")) + " } } }");
    ToolFailure first = failure(servers.call("broken", "echo", null), Duration.ofSeconds(10));
    assertEquals(Reason.DOWN, first.reason());
    assertEquals("broken", first.server());
    assertTrue(first.getMessage().startsWith("MCP server \"broken\" is down: cannot start: "), first.getMessage());
    assertTrue(first.getMessage().contains("no-such-program"), first.getMessage());

    ToolFailure again = failure(servers.tools("broken"), Duration.ofSeconds(1));
    assertEquals(Reason.DOWN, again.reason());

    ToolFailure lost = failure(servers.tools("lost"), Duration.ofSeconds(10));
    assertTrue(lost.getMessage().contains("working directory " + dir.resolve("no-such-dir") + " is not a directory"),
        lost.getMessage());
  }

  @Test
  void aToolThatOutlivesTheCallTimeoutFailsAndTheServerStaysUp() throws Exception {
    start("{ servers: { everything: { command: " + quoted(npmServer("mcp-server-everything"))
        + ", callTimeoutSeconds: 1 } } }");
    ToolFailure slow = failure(servers.call("everything", "trigger-long-running-operation",
        json("{\"duration\": 30, \"steps\": 1}")), Duration.ofSeconds(20));
    assertEquals(Reason.TIMEOUT, slow.reason());
    assertEquals("MCP server \"everything\" did not answer the call of trigger-long-running-operation within 1.0 s",
        slow.getMessage());
    assertEquals("Echo: still here", await(servers.call("everything", "echo", json("{\"message\": \"still here\"}")))
        .text());
  }

  @Test
  void aLongResultIsCutWithItsFullLengthNoted() throws Exception {
    start("{ maxResultChars: 20, " + everything("").substring(1));
    ToolResult result = await(servers.call("everything", "echo", json("{\"message\": \"" + "x".repeat(100) + "\"}")));
    assertTrue(result.truncated());
    assertEquals(106, result.fullChars());
    assertEquals("Echo: " + "x".repeat(14) + "\n[truncated: the first 20 of 106 characters]", result.text());
  }

  @Test
  void anUnknownServerIsNamedWithTheConfiguredOnes() throws Exception {
    start(everything(""));
    ToolFailure unknown = failure(servers.call("evrything", "echo", null), Duration.ofSeconds(1));
    assertEquals(Reason.UNKNOWN_SERVER, unknown.reason());
    assertEquals("no MCP server \"evrything\" is configured; talon.mcp.servers has everything", unknown.getMessage());
  }

  @Test
  void theCatalogShowsAnAgentOnlyWhatItsPolicyAllowsAndSaysWhichServersAreDown() throws Exception {
    TalonConfig config = config("{ servers: { everything: { command: " + quoted(npmServer("mcp-server-everything"))
        + " }, broken: { command: " + quoted(dir.resolve("nothing")) + " } } }",
        "{ defaults: { tools: { allow: ['everything/echo', 'everything/get-sum', 'everything/get-env', 'broken/*'],"
            + " deny: ['everything/get-env'] } } }");
    servers = McpServers.start(testKit.system(), config.talon().mcp());
    McpServers.Catalog catalog = await(servers.catalog(ToolPolicy.of(config.catalog().defaultAgent())));
    assertEquals(List.of("everything/echo", "everything/get-sum"),
        catalog.tools().stream().map(ToolSpec::qualifiedName).toList());
    assertEquals(List.of("broken"), catalog.unavailable().stream().map(ToolFailure::server).toList());
  }

  @Test
  void aStopEndsAStartUnderWayAndEveryProcessTheServerStarted() throws Exception {
    // A "server" that never answers the handshake, and leaves two processes of its own.
    start("{ startTimeoutSeconds: 600, stopTimeoutSeconds: 1,"
        + " servers: { mute: { command: 'sh', args: ['-c', 'sleep 3017 & sleep 3018'] } } }");
    CompletionStage<List<ToolSpec>> starting = servers.tools("mute");
    TestProbe<Void> probe = testKit.createTestProbe();
    List<ProcessHandle> sleeps = probe.awaitAssert(PATIENCE, () -> {
      List<ProcessHandle> found = ProcessHandle.current().descendants()
          .filter(p -> p.info().arguments().map(args -> args.length == 1 && args[0].startsWith("301")).orElse(false))
          .toList();
      assertEquals(2, found.size());
      return found;
    });
    assertEquals(State.STARTING, status("mute").state());

    await(servers.stop());
    assertTrue(sleeps.stream().noneMatch(ProcessHandle::isAlive), "the server's own processes are stopped too");
    assertEquals(Reason.STOPPED, failure(starting, Duration.ofSeconds(1)).reason());
  }

  @Test
  void theServersStopWithTheNodeLeavingNoProcess() throws Exception {
    ActorTestKit node = ActorTestKit.create();
    McpServers own = McpServers.start(node.system(), config(everything("")).talon().mcp());
    await(own.tools("everything"));
    long pid = await(own.status()).get(0).pid().orElseThrow();
    ProcessHandle process = ProcessHandle.of(pid).orElseThrow();

    node.shutdownTestKit();
    assertFalse(process.isAlive(), "the node's shutdown waits for its MCP servers to stop");
    ToolFailure after = failure(own.call("everything", "echo", null), Duration.ofSeconds(1));
    assertEquals(Reason.STOPPED, after.reason());
  }
}
