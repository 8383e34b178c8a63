package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.config.ConfigLoader;
import dev.talon.config.McpSettings;
import dev.talon.tools.RequestedServer;
import dev.talon.tools.RequestedServer.Approval;
import java.net.URI;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** OpenAI's {@code type: "mcp"} tools of a Responses request, read into the servers a turn may use, or a 400. */
class McpToolRequestsTest {
  static final McpSettings SETTINGS = ConfigLoader.parse("""
      { models: { providers: { p: { baseUrl: 'http://127.0.0.1:1/v1', models: [{ id: 'm' }] } } },
        talon: { mcp: { allowedUrls: ['https://docs.example.com/mcp', 'http://127.0.0.1:9000/mcp'],
                        servers: { fs: { command: 'fs-server' } } } } }""", "test.json5",
      Map.<String, String>of()::get).talon().mcp();
  static final ObjectMapper JSON = new ObjectMapper();

  static List<RequestedServer> read(String tools) {
    try {
      return McpToolRequests.read(Fields.of((ObjectNode) JSON.readTree("{\"tools\": " + tools + "}")).get("tools"),
          SETTINGS);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalArgumentException(e);
    }
  }

  /** The 400 {@code tools} gets, as {@code param: message}. */
  static String refusal(String tools) {
    ApiError error = assertThrows(ApiError.class, () -> read(tools));
    assertEquals("invalid_request_error", error.error().get("type").asText());
    return error.error().get("param").asText() + ": " + error.getMessage();
  }

  @Test
  void readsOpenAisFormAndLeavesOtherToolsAlone() {
    List<RequestedServer> servers = read("""
        [ { "type": "function", "name": "weather", "parameters": {} },
          { "type": "mcp", "server_label": "docs", "server_url": "HTTPS://Docs.Example.com/mcp/",
            "headers": { "X-Api-Key": "k1" }, "authorization": "oauth-token",
            "allowed_tools": ["search", "fetch"], "require_approval": "never",
            "server_description": "the docs" },
          { "type": "mcp", "server_label": "local", "server_url": "http://127.0.0.1:9000/mcp",
            "allowed_tools": { "tool_names": ["ping"] },
            "require_approval": { "never": { "tool_names": ["ping"] } } } ]""");
    assertEquals(2, servers.size());
    RequestedServer docs = servers.get(0);
    assertEquals("docs", docs.label());
    assertEquals(URI.create("https://docs.example.com/mcp"), docs.url());
    assertEquals(Map.of("X-Api-Key", "k1", "Authorization", "Bearer oauth-token"), docs.headers());
    assertEquals(Set.of("search", "fetch"), docs.allowedTools());
    assertEquals(Approval.NEVER, docs.approval());
    RequestedServer local = servers.get(1);
    assertEquals(Set.of("ping"), local.allowedTools());
    assertEquals(new Approval(Set.of(), Set.of("ping"), true), local.approval());
    assertEquals(List.of(), read("[]"));
    assertEquals(List.of(), McpToolRequests.read(Fields.of(JSON.createObjectNode()).get("tools"), SETTINGS));
  }

  @Test
  void absentRulesMeanEveryToolAndAlwaysAskAsAtOpenAi() {
    RequestedServer plain = read("""
        [{ "type": "mcp", "server_label": "docs", "server_url": "https://docs.example.com/mcp" }]""").get(0);
    assertNull(plain.allowedTools());
    assertEquals(Approval.ALWAYS, plain.approval());
    assertEquals(Map.of(), plain.headers());
    assertNull(read("""
        [{ "type": "mcp", "server_label": "docs", "server_url": "https://docs.example.com/mcp",
           "allowed_tools": {} }]""").get(0).allowedTools());
  }

  @Test
  void approvalFiltersThatNameNoToolsMatchEveryTool() {
    assertEquals(new Approval(Set.of("delete"), Set.of(), false), approval("""
        { "always": { "tool_names": ["delete"] }, "never": {} }"""));
    assertEquals(Approval.ALWAYS, approval("""
        { "always": {}, "never": { "tool_names": ["search"] } }"""));
    assertEquals(new Approval(Set.of("delete"), Set.of(), true), approval("""
        { "always": { "tool_names": ["delete"] } }"""));
    assertEquals(Approval.ALWAYS, approval("\"always\""));
  }

  private static Approval approval(String json) {
    return read("[{ \"type\": \"mcp\", \"server_label\": \"docs\", \"server_url\": \"https://docs.example.com/mcp\","
        + " \"require_approval\": " + json + " }]").get(0).approval();
  }

  @Test
  void eachRefusalNamesTheFieldInTheRequestsToolsArray() {
    String docs = "\"server_url\": \"https://docs.example.com/mcp\"";
    String weather = "{ \"type\": \"function\", \"name\": \"weather\" }, ";
    assertEquals("tools[1].server_label: Missing required parameter: 'tools[1].server_label'.",
        refusal("[" + weather + "{ \"type\": \"mcp\", " + docs + " }]"));
    assertEquals("tools[0].server_url: Missing required parameter: 'tools[0].server_url'.",
        refusal("[{ \"type\": \"mcp\", \"server_label\": \"docs\" }]"));
    assertEquals("tools[0].connector_id: Unsupported parameter: 'connector_id': Talon reaches MCP servers by"
        + " server_url only (OpenAI's connectors and tunnels are its own).",
        refusal("[{ \"type\": \"mcp\", \"server_label\": \"gmail\", \"connector_id\": \"connector_gmail\" }]"));
    assertEquals("tools[0].server_url: Invalid server_url 'file:///etc/passwd': expected an http:// or https:// URL"
        + " with a host.", refusal("[{ \"type\": \"mcp\", \"server_label\": \"x\", \"server_url\": \"file:///etc/passwd\" }]"));
    assertEquals("tools[2].server_url: MCP server URL 'http://10.0.0.1/mcp' is not allowed: requests may name only"
        + " the servers this gateway's operator lists in talon.mcp.allowedUrls.",
        refusal("[" + weather + "{ \"type\": \"mcp\", \"server_label\": \"docs\", " + docs + " },"
            + " { \"type\": \"mcp\", \"server_label\": \"other\", \"server_url\": \"http://10.0.0.1/mcp\" }]"));
    assertEquals("tools[0].server_label: Invalid server_label 'fs': a server configured on this gateway has that"
        + " id; choose another label.", refusal("[{ \"type\": \"mcp\", \"server_label\": \"fs\", " + docs + " }]"));
    assertEquals("tools[0].headers: Header 'Host' cannot be sent: restricted header name: \"Host\".",
        refusal("[{ \"type\": \"mcp\", \"server_label\": \"docs\", " + docs + ", \"headers\": { \"Host\": \"x\" } }]"));
  }

  @Test
  void wrongShapesAreRefusedNamingTheField() {
    String docs = "{ \"type\": \"mcp\", \"server_label\": \"docs\", \"server_url\": \"https://docs.example.com/mcp\", ";
    assertEquals("tools[0].allowed_tools: Invalid type for 'tools[0].allowed_tools': expected an array of tool names"
        + " or an object with tool_names.", refusal("[" + docs + "\"allowed_tools\": \"search\" }]"));
    assertEquals("tools[0].allowed_tools[1]: Invalid type for 'tools[0].allowed_tools[1]': expected a string.",
        refusal("[" + docs + "\"allowed_tools\": [\"search\", 7] }]"));
    assertEquals("tools[0].allowed_tools.read_only: Unsupported parameter: 'read_only': name the tools in"
        + " tool_names.", refusal("[" + docs + "\"allowed_tools\": { \"read_only\": true } }]"));
    assertEquals("tools[0].require_approval: Invalid require_approval 'sometimes': expected always, never or an"
        + " object with always and never.", refusal("[" + docs + "\"require_approval\": \"sometimes\" }]"));
    assertEquals("tools[0].require_approval.never: Invalid type for 'tools[0].require_approval.never': expected an"
        + " object with tool_names.", refusal("[" + docs + "\"require_approval\": { \"never\": [\"search\"] } }]"));
    assertEquals("tools[0].headers.X-Key: Invalid type for 'tools[0].headers.X-Key': expected a string.",
        refusal("[" + docs + "\"headers\": { \"X-Key\": 1 } }]"));
    assertEquals("tools[0].authorization: Set 'authorization' or an Authorization header in 'headers', not both.",
        refusal("[" + docs + "\"headers\": { \"authorization\": \"Bearer a\" }, \"authorization\": \"b\" }]"));
  }
}
