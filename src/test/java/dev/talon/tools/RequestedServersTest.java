package dev.talon.tools;

import static dev.talon.testing.McpFixtures.PATIENCE;
import static dev.talon.testing.McpFixtures.await;
import static dev.talon.testing.McpFixtures.config;
import static dev.talon.testing.McpFixtures.failure;
import static dev.talon.testing.McpFixtures.quoted;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.config.TalonConfig;
import dev.talon.tools.RequestedServer.Approval;
import dev.talon.tools.ToolFailure.Reason;
import dev.talon.tools.ToolPolicy.Verdict;
import java.net.ServerSocket;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/**
 * Servers a request names (OpenAI's {@code type: "mcp"} tools), reached through a turn's
 * {@link Toolbox} at the in-process Streamable HTTP server.
 */
class RequestedServersTest extends AgainstHttpMcpServer {
  static final ActorTestKit testKit = ActorTestKit.create();
  static final ToolPolicy NO_TOOLS = new ToolPolicy("main", dev.talon.config.ToolRules.NONE);

  @AfterAll
  static void shutdown() {
    testKit.shutdownTestKit();
  }

  /** This node, letting requests name the test server and {@code more}. */
  private TalonConfig start(String settings, String agents, URI... more) {
    StringBuilder allowed = new StringBuilder(quoted(http.url()));
    for (URI url : more) {
      allowed.append(", ").append(quoted(url));
    }
    TalonConfig config = config("{ " + settings + " allowedUrls: [" + allowed + "] }", agents);
    servers = McpServers.start(testKit.system(), config.talon().mcp());
    return config;
  }

  private RequestedServer named(String label, Map<String, String> headers, Set<String> allowedTools,
      Approval approval) {
    return new RequestedServer(label, http.url(), headers, allowedTools, approval);
  }

  private static List<String> names(McpServers.Catalog catalog) {
    return catalog.tools().stream().map(ToolSpec::qualifiedName).toList();
  }

  @Test
  void anAllowedServerListsAndRunsItsToolsUnderItsLabelWithTheRequestsHeaders() throws Exception {
    start("", "{}");
    Toolbox toolbox = servers.toolbox(NO_TOOLS, List.of(named("docs", Map.of("Authorization", "Bearer client-token"),
        null, Approval.NEVER)));
    McpServers.Catalog catalog = await(toolbox.catalog());
    assertEquals(List.of("docs/echo", "docs/whoami", "docs/hang"), names(catalog));
    assertEquals(List.of(), catalog.unavailable());
    assertEquals(List.of("docs"), List.copyOf(toolbox.servers()));

    ToolResult echoed = await(toolbox.callWithJson("docs", "echo", "{\"message\": \"hi\"}"));
    assertEquals("echo: hi", echoed.text());
    assertEquals("docs", echoed.server());
    assertEquals("Bearer client-token", await(toolbox.callWithJson("docs", "whoami", "")).text());
    assertEquals(Duration.ofSeconds(90), toolbox.deadline("docs"), "the node's start and call timeouts");
    assertEquals(Reason.REJECTED, failure(toolbox.callWithJson("docs", "echo", "[1]"), PATIENCE).reason());
  }

  @Test
  void aUrlTheOperatorDidNotListIsRefusedWithoutReachingIt() {
    TalonConfig config = config("{ allowedUrls: [" + quoted(http.url() + "/other") + "] }");
    servers = McpServers.start(testKit.system(), config.talon().mcp());
    RequestedServer.Refused refused = assertThrows(RequestedServer.Refused.class,
        () -> servers.toolbox(NO_TOOLS, List.of(named("docs", Map.of(), null, null))));
    assertEquals("server_url", refused.field());
    assertEquals(0, http.requests(), "the server never heard from this node");
  }

  @Test
  void theRequestsAllowedToolsAndApprovalsRuleItsServerAndTheAgentsPolicyTheConfiguredOnes() throws Exception {
    TalonConfig config = start("servers: { web: { url: " + quoted(http.url()) + " } },",
        "{ defaults: { tools: { allow: ['web/whoami'], requireApproval: ['web/whoami'] } } }");
    Toolbox toolbox = servers.toolbox(ToolPolicy.of(config.catalog().defaultAgent()),
        List.of(named("docs", Map.of(), Set.of("echo", "whoami"), new Approval(Set.of(), Set.of("echo"), true))));

    assertEquals(List.of("web/whoami", "docs/echo", "docs/whoami"), names(await(toolbox.catalog())));
    assertEquals(List.of("web", "docs"), List.copyOf(toolbox.servers()));
    assertEquals(Verdict.ALLOW, toolbox.decide("docs", "echo").verdict());
    assertEquals(Verdict.ASK, toolbox.decide("docs", "whoami").verdict());
    assertEquals(Verdict.DENY, toolbox.decide("docs", "hang").verdict());
    assertEquals(Verdict.ASK, toolbox.decide("web", "whoami").verdict());
    assertEquals(Verdict.DENY, toolbox.decide("web", "echo").verdict());
    assertEquals("tool web/echo is not allowed for agent main (no entry of its allow list names it)",
        toolbox.decide("web", "echo").reason());
  }

  @Test
  void turnsNamingTheSameServerWithTheSameHeadersShareOneSession() throws Exception {
    start("", "{}");
    Map<String, String> token = Map.of("Authorization", "Bearer one");
    await(servers.toolbox(NO_TOOLS, List.of(named("a", token, null, null))).catalog());
    await(servers.toolbox(NO_TOOLS, List.of(named("b", token, null, null))).catalog());
    assertEquals(1, http.sessionsOpened());
    Toolbox other = servers.toolbox(NO_TOOLS, List.of(named("a", Map.of("Authorization", "Bearer two"), null, null)));
    assertEquals("Bearer two", await(other.callWithJson("a", "whoami", "")).text());
    assertEquals(2, http.sessionsOpened(), "other credentials, another session");
  }

  @Test
  void aServerIsClosedOnceUnusedForItsIdleTimeButNotUnderACallAndOpenedAgainWhenNamed() throws Exception {
    start("requestedServerIdleSeconds: 1, callTimeoutSeconds: 2,", "{}");
    Toolbox toolbox = servers.toolbox(NO_TOOLS, List.of(named("docs", Map.of(), null, null)));
    // The call outlasts the idle time: the server stays up under it.
    assertEquals(Reason.TIMEOUT, failure(toolbox.callWithJson("docs", "hang", ""), PATIENCE).reason());
    assertEquals(0, http.sessionsClosed());

    testKit.createTestProbe().awaitAssert(PATIENCE, () -> {
      assertEquals(1, http.sessionsClosed());
      return null;
    });
    assertEquals("echo: again", await(toolbox.callWithJson("docs", "echo", "{\"message\": \"again\"}")).text());
    assertEquals(2, http.sessionsOpened());
  }

  @Test
  void aServerThatCannotBeReachedIsUnavailableUnderItsLabel() throws Exception {
    URI nowhere;
    try (ServerSocket socket = new ServerSocket(0)) {
      nowhere = URI.create("http://127.0.0.1:" + socket.getLocalPort() + "/mcp");
    }
    start("", "{}", nowhere);
    Toolbox toolbox = servers.toolbox(NO_TOOLS, List.of(named("docs", Map.of(), null, null),
        new RequestedServer("gone", nowhere, Map.of(), null, null)));
    McpServers.Catalog catalog = await(toolbox.catalog());
    assertEquals(List.of("docs/echo", "docs/whoami", "docs/hang"), names(catalog));
    ToolFailure gone = catalog.unavailable().get(0);
    assertEquals("gone", gone.server());
    assertEquals(Reason.DOWN, gone.reason());
    assertTrue(gone.getMessage().startsWith("MCP server \"" + nowhere + "\" is down: cannot start: "),
        gone.getMessage());
  }

  @Test
  void theNodeStoppingClosesRequestedServersAndRefusesTheirCalls() throws Exception {
    start("", "{}");
    Toolbox toolbox = servers.toolbox(NO_TOOLS, List.of(named("docs", Map.of(), null, null)));
    await(toolbox.catalog());
    await(servers.stop());
    assertEquals(1, http.sessionsClosed());
    ToolFailure stopped = failure(toolbox.callWithJson("docs", "echo", ""), Duration.ofSeconds(1));
    assertEquals(Reason.STOPPED, stopped.reason());
    assertEquals("docs", stopped.server());
  }
}
