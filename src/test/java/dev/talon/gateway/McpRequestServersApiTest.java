package dev.talon.gateway;

import static dev.talon.testing.McpFixtures.quoted;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.testing.Request;
import dev.talon.testing.Script;
import dev.talon.tools.HttpMcpServer;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * OpenAI's own request form: a Responses request names a remote MCP server ({@code type: "mcp"})
 * that the operator allowed, and the turn calls its tools; a server the operator did not list is
 * refused before anything reaches it. The request's credentials reach the server and nowhere else.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class McpRequestServersApiTest {
  @TempDir static Path dataDir;
  @TempDir static Path tomcatDir;
  HttpMcpServer remote;
  HttpMcpServer unlisted;
  TalonApi api;

  @BeforeAll
  void start() throws Exception {
    remote = new HttpMcpServer(0, tomcatDir.resolve("remote"));
    unlisted = new HttpMcpServer(0, tomcatDir.resolve("unlisted"));
    api = TalonApi.start(dataDir, TalonApi.TOKEN, """
        { agents: { defaults: { model: { primary: "local/a" } } },
          models: { mode: "replace", providers: {
            local: { baseUrl: "%%1$s", apiKey: "sk-local", api: "openai-responses", models: [{ id: "a" }] } } },
          talon: { mcp: { allowedUrls: [%s] } } }
        """.formatted(quoted(remote.url())));
    api.fake.setDefault(McpRequestServersApiTest::model);
  }

  @AfterAll
  void stop() throws Exception {
    api.close();
    remote.close();
    unlisted.close();
  }

  /** Asks who it is once; then repeats what the tool said. */
  private static Script model(Request request) {
    for (JsonNode item : request.body().path("input")) {
      if (item.path("type").asText().equals("function_call_output")) {
        return Script.reply("The server says: " + item.path("output").asText());
      }
    }
    return Script.reply().toolCall("remote__whoami", "{}");
  }

  private String body(Object url) {
    return """
        {"model": "openclaw", "input": "Who am I to the server?", "tools": [
          {"type": "mcp", "server_label": "remote", "server_url": %s, "require_approval": "never",
           "headers": {"Authorization": "Bearer secret-token"}}]}
        """.formatted(quoted(url));
  }

  @Test
  void aServerTheOperatorListedIsCalledWithTheRequestsHeaders() throws Exception {
    HttpResponse<String> response = api.post("/v1/responses", body(remote.url()));
    assertEquals(200, response.statusCode(), response.body());
    JsonNode json = TalonApi.json(response);
    JsonNode call = null;
    for (JsonNode item : json.path("output")) {
      if (item.path("type").asText().equals("mcp_call")) {
        call = item;
      }
    }
    assertTrue(call != null, response.body());
    assertEquals("remote", call.path("server_label").asText());
    assertEquals("whoami", call.path("name").asText());
    assertEquals("Bearer secret-token", call.path("output").asText(), "the request's header reached the server");
    assertEquals("completed", json.path("status").asText());

    // The credentials are not echoed: neither in the response nor when it is read back.
    assertFalse(json.path("tools").toString().contains("secret-token"), json.path("tools").toString());
    HttpResponse<String> stored = api.get("/v1/responses/" + json.path("id").asText());
    assertFalse(TalonApi.json(stored).path("tools").toString().contains("secret-token"), stored.body());
  }

  @Test
  void aServerTheOperatorDidNotListIsRefusedBeforeAnythingReachesIt() throws Exception {
    HttpResponse<String> response = api.post("/v1/responses", body(unlisted.url()));
    assertEquals(400, response.statusCode(), response.body());
    assertEquals("tools[0].server_url", TalonApi.json(response).path("error").path("param").asText(), response.body());
    assertEquals(0, unlisted.requests(), "nothing was sent to the unlisted server");
  }
}
