package dev.talon.tools;

import static dev.talon.testing.McpFixtures.await;

import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tests against the in-process Streamable HTTP server: a fresh server for each test, and the
 * node's MCP servers that the test started ({@link #servers}) stopped after it, before the server.
 */
abstract class AgainstHttpMcpServer {
  @TempDir Path dir;
  HttpMcpServer http;
  McpServers servers;

  @BeforeEach
  void startHttpServer() throws Exception {
    http = new HttpMcpServer(0, dir);
  }

  @AfterEach
  void stopAll() throws Exception {
    if (servers != null) {
      await(servers.stop());
    }
    http.close();
  }
}
