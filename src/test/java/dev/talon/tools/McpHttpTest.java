package dev.talon.tools;

import static dev.talon.testing.McpFixtures.PATIENCE;
import static dev.talon.testing.McpFixtures.await;
import static dev.talon.testing.McpFixtures.config;
import static dev.talon.testing.McpFixtures.failure;
import static dev.talon.testing.McpFixtures.json;
import static dev.talon.testing.McpFixtures.quoted;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.tools.ServerStatus.State;
import dev.talon.tools.ToolFailure.Reason;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** Talon's MCP client against a Streamable HTTP server of the official Java SDK, in process on loopback. */
class McpHttpTest extends AgainstHttpMcpServer {
  static final ActorTestKit testKit = ActorTestKit.create();

  @AfterAll
  static void shutdown() {
    testKit.shutdownTestKit();
  }

  private McpServers start(String settings, String server) {
    servers = McpServers.start(testKit.system(), config("{ " + settings + " servers: { web: { url: "
        + quoted(http.url()) + server + " } } }").talon().mcp());
    return servers;
  }

  private ServerStatus status() throws Exception {
    return await(servers.status()).get(0);
  }

  @Test
  void listsAndCallsToolsSendingTheConfiguredHeaders() throws Exception {
    start("", ", headers: { Authorization: 'Bearer test-token' }");
    assertEquals(List.of("echo", "whoami", "hang"), await(servers.tools("web")).stream().map(ToolSpec::name).toList());
    assertEquals("echo: over http", await(servers.call("web", "echo", json("{\"message\": \"over http\"}"))).text());
    assertEquals("Bearer test-token", await(servers.call("web", "whoami", null)).text());
    ServerStatus ready = status();
    assertEquals(State.READY, ready.state());
    assertEquals("in-process 1.0", ready.detail());
    assertTrue(ready.pid().isEmpty(), "no process of ours");
  }

  @Test
  void aToolThatHangsHitsTheServersOwnCallTimeout() throws Exception {
    start("callTimeoutSeconds: 600,", ", callTimeoutSeconds: 1");
    ToolFailure hung = failure(servers.call("web", "hang", null), Duration.ofSeconds(20));
    assertEquals(Reason.TIMEOUT, hung.reason());
    assertEquals("MCP server \"web\" did not answer the call of hang within 1.0 s", hung.getMessage());
    assertEquals("echo: after", await(servers.call("web", "echo", json("{\"message\": \"after\"}"))).text());
  }

  @Test
  void theToolListIsRefreshedWhenTheServerSaysItChanged() throws Exception {
    start("", "");
    assertEquals(3, await(servers.tools("web")).size());
    http.addTool("added");
    testKit.createTestProbe().awaitAssert(PATIENCE, () -> {
      List<String> names = status().tools().stream().map(ToolSpec::name).toList();
      assertEquals(List.of("echo", "whoami", "hang", "added"), names);
      return names;
    });
    assertEquals("added", await(servers.call("web", "added", null)).text());
  }

  @Test
  void aServerThatGoesAwayIsDownNamedAndReconnectedWhenItIsBack() throws Exception {
    start("restartBackoffInitialMs: 1500,", "");
    await(servers.call("web", "echo", json("{\"message\": \"first\"}")));
    int port = http.port();
    http.close();

    ToolFailure lost = failure(servers.call("web", "echo", json("{\"message\": \"lost\"}")), PATIENCE);
    assertEquals(Reason.DOWN, lost.reason());
    assertTrue(lost.getMessage().startsWith("MCP server \"web\" went down during the call of echo: "),
        lost.getMessage());
    ToolFailure down = failure(servers.tools("web"), Duration.ofSeconds(1));
    assertEquals(Reason.DOWN, down.reason());
    assertTrue(down.getMessage().startsWith("MCP server \"web\" is down: "), down.getMessage());

    http = new HttpMcpServer(port, dir);
    TestProbe<Void> probe = testKit.createTestProbe();
    probe.awaitAssert(PATIENCE, () -> {
      assertEquals(State.READY, status().state());
      return null;
    });
    assertEquals("echo: back", await(servers.call("web", "echo", json("{\"message\": \"back\"}"))).text());
  }
}
