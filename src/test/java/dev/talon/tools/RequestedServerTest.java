package dev.talon.tools;

import static dev.talon.testing.McpFixtures.config;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.talon.config.McpSettings;
import dev.talon.tools.RequestedServer.Approval;
import dev.talon.tools.ToolPolicy.Verdict;
import java.net.URI;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The rules of a server a request names: OpenAI's allowed_tools and require_approval, and what a node refuses. */
class RequestedServerTest {
  static final URI DOCS = URI.create("https://tools.example.com/mcp");
  static final McpSettings SETTINGS = config("{ allowedUrls: ['https://Tools.Example.com/mcp/'],"
      + " servers: { web: { url: 'http://127.0.0.1:1/mcp' } } }").talon().mcp();

  static RequestedServer docs(Set<String> allowedTools, Approval approval) {
    return new RequestedServer("docs", DOCS, Map.of(), allowedTools, approval);
  }

  static Verdict verdict(RequestedServer server, String tool) {
    return server.decide(tool).verdict();
  }

  @Test
  void allowedToolsLimitWhatTheTurnMayCallAndAbsentAllowsAll() {
    RequestedServer some = docs(Set.of("search"), Approval.NEVER);
    assertEquals(Verdict.ALLOW, verdict(some, "search"));
    assertEquals(Verdict.DENY, verdict(some, "delete"));
    assertEquals("tool docs/delete is not among the allowed_tools the request gave for server docs",
        some.decide("delete").reason());
    assertEquals(Verdict.ALLOW, verdict(docs(null, Approval.NEVER), "delete"));
    assertEquals(Verdict.DENY, verdict(docs(Set.of(), Approval.NEVER), "search"));
  }

  @Test
  void approvalIsAskedUnlessTheRequestSaysNeverAsOpenAiDoes() {
    assertEquals(Verdict.ASK, verdict(docs(null, null), "search"), "absent means always");
    assertEquals(Verdict.ASK, verdict(docs(null, Approval.ALWAYS), "search"));
    assertEquals(Verdict.ALLOW, verdict(docs(null, Approval.NEVER), "search"));
    assertEquals("calls of docs/search wait for approval (the request's require_approval)",
        docs(null, Approval.ALWAYS).decide("search").reason());
  }

  @Test
  void filtersNameToolsThatAlwaysOrNeverWaitAndTheRestWait() {
    RequestedServer server = docs(null, new Approval(Set.of("delete", "both"), Set.of("search", "both"), true));
    assertEquals(Verdict.ASK, verdict(server, "delete"));
    assertEquals(Verdict.ALLOW, verdict(server, "search"));
    assertEquals(Verdict.ASK, verdict(server, "other"), "a tool neither filter names waits");
    assertEquals(Verdict.ASK, verdict(server, "both"), "a tool both name waits");
    RequestedServer onlyAlways = docs(null, new Approval(Set.of("delete"), Set.of(), false));
    assertEquals(Verdict.ASK, verdict(onlyAlways, "delete"));
    assertEquals(Verdict.ALLOW, verdict(onlyAlways, "search"));
  }

  @Test
  void aListedUrlPassesInAnySpellingTheConfigAccepts() {
    RequestedServer.check(List.of(docs(null, null),
        new RequestedServer("other", URI.create("https://tools.example.com/mcp"), Map.of("X-Key", "k"), null, null)),
        SETTINGS);
  }

  @Test
  void aUrlTheOperatorDidNotListIsRefusedNamingTheServerAndField() {
    RequestedServer.Refused refused = assertThrows(RequestedServer.Refused.class, () -> RequestedServer.check(
        List.of(docs(null, null), new RequestedServer("evil", URI.create("http://169.254.169.254/latest"), Map.of(),
            null, null)), SETTINGS));
    assertEquals(1, refused.index());
    assertEquals("server_url", refused.field());
    assertEquals("MCP server URL 'http://169.254.169.254/latest' is not allowed: requests may name only the"
        + " servers this gateway's operator lists in talon.mcp.allowedUrls.", refused.getMessage());
    RequestedServer.Refused none = assertThrows(RequestedServer.Refused.class,
        () -> RequestedServer.check(List.of(docs(null, null)), McpSettings.NONE));
    assertEquals("server_url", none.field());
  }

  @Test
  void labelsAreServerIdsOfTheirOwn() {
    assertEquals("Invalid server_label 'my docs': use only letters, digits, _ and - (it prefixes the names of the"
        + " server's tools).", refusal(label("my docs")).getMessage());
    assertEquals("server_label", refusal(label("")).field());
    assertEquals("Invalid server_label 'web': a server configured on this gateway has that id; choose another"
        + " label.", refusal(label("web")).getMessage());
    RequestedServer.Refused twice = refusal(docs(null, null), docs(null, null));
    assertEquals(1, twice.index());
    assertEquals("Invalid server_label 'docs': another mcp tool of the request has that label.", twice.getMessage());
  }

  @Test
  void headersJavasHttpClientCannotSendAreRefused() {
    RequestedServer.Refused host = refusal(new RequestedServer("docs", DOCS, Map.of("Host", "elsewhere"), null, null));
    assertEquals("headers", host.field());
    assertTrue(host.getMessage().startsWith("Header 'Host' cannot be sent: "), host.getMessage());
    RequestedServer.Refused split = refusal(new RequestedServer("docs", DOCS, Map.of("X-Key", "a\r\nHost: b"), null,
        null));
    assertEquals("headers", split.field());
    assertFalse(split.getMessage().contains("a\r\n"), "the value, which may be a secret, is not quoted");
  }

  @Test
  void itTravelsAsJacksonWritesItAndPrintsNoHeaderValue() throws Exception {
    ObjectMapper json = new ObjectMapper();
    for (RequestedServer server : List.of(
        new RequestedServer("docs", DOCS, Map.of("Authorization", "Bearer secret-token"), Set.of("a", "b"),
            new Approval(Set.of("a"), Set.of("b"), true)),
        docs(null, Approval.NEVER))) {
      assertEquals(server, json.readValue(json.writeValueAsString(server), RequestedServer.class));
    }
    String printed = new RequestedServer("docs", DOCS, Map.of("Authorization", "Bearer secret-token"), null, null)
        .toString();
    assertTrue(printed.contains("headers=[Authorization]"), printed);
    assertFalse(printed.contains("secret-token"), printed);
  }

  private static RequestedServer label(String label) {
    return new RequestedServer(label, DOCS, Map.of(), null, null);
  }

  private static RequestedServer.Refused refusal(RequestedServer... servers) {
    return assertThrows(RequestedServer.Refused.class, () -> RequestedServer.check(List.of(servers), SETTINGS));
  }
}
