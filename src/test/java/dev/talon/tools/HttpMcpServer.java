package dev.talon.tools;

import io.modelcontextprotocol.common.McpTransportContext;
import io.modelcontextprotocol.server.McpServer;
import io.modelcontextprotocol.server.McpServerFeatures.SyncToolSpecification;
import io.modelcontextprotocol.server.McpSyncServer;
import io.modelcontextprotocol.server.transport.HttpServletStreamableServerTransportProvider;
import io.modelcontextprotocol.spec.McpSchema;
import java.net.URI;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import org.apache.catalina.Context;
import org.apache.catalina.LifecycleException;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.startup.Tomcat;

/**
 * An MCP server on a loopback port, built with the server side of the official Java SDK
 * (Streamable HTTP, in Tomcat). Its tools: {@code echo}; {@code whoami}, which answers the
 * {@code Authorization} header it was sent; {@code hang}, which answers only once the server
 * closes.
 */
final class HttpMcpServer implements AutoCloseable {
  private static final Map<String, Object> NO_ARGUMENTS = Map.of("type", "object");

  private final Tomcat tomcat;
  private final McpSyncServer server;
  private final int port;
  private final CountDownLatch closing = new CountDownLatch(1);

  /** @param port 0 for any free one */
  HttpMcpServer(int port, Path baseDir) throws LifecycleException {
    HttpServletStreamableServerTransportProvider transport = HttpServletStreamableServerTransportProvider.builder()
        .mcpEndpoint("/mcp")
        .contextExtractor(request -> McpTransportContext.create(
            Map.of("authorization", Objects.requireNonNullElse(request.getHeader("Authorization"), "none"))))
        .build();
    server = McpServer.sync(transport).serverInfo("in-process", "1.0")
        .capabilities(McpSchema.ServerCapabilities.builder().tools(true).build())
        .tools(tool("echo", Map.of("type", "object", "properties", Map.of("message", Map.of("type", "string"))),
                (exchange, call) -> text("echo: " + call.arguments().get("message"))),
            tool("whoami", NO_ARGUMENTS,
                (exchange, call) -> text(String.valueOf(exchange.transportContext().get("authorization")))),
            tool("hang", NO_ARGUMENTS, (exchange, call) -> {
              try {
                closing.await();
              } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
              }
              return text("released");
            }))
        .build();

    tomcat = new Tomcat();
    tomcat.setBaseDir(baseDir.toString());
    Connector connector = new Connector();
    connector.setPort(port);
    connector.setProperty("address", "127.0.0.1");
    tomcat.setConnector(connector);
    Context context = tomcat.addContext("", baseDir.toString());
    Tomcat.addServlet(context, "mcp", transport).setAsyncSupported(true);
    context.addServletMappingDecoded("/*", "mcp");
    tomcat.start();
    this.port = connector.getLocalPort();
  }

  int port() {
    return port;
  }

  URI url() {
    return URI.create("http://127.0.0.1:" + port + "/mcp");
  }

  /** Adds a tool that answers its own name, and tells the clients the list changed. */
  void addTool(String name) {
    server.addTool(tool(name, NO_ARGUMENTS, (exchange, call) -> text(name)));
    server.notifyToolsListChanged();
  }

  private static SyncToolSpecification tool(String name, Map<String, Object> schema,
      java.util.function.BiFunction<io.modelcontextprotocol.server.McpSyncServerExchange, McpSchema.CallToolRequest,
          McpSchema.CallToolResult> handler) {
    return SyncToolSpecification.builder().tool(McpSchema.Tool.builder(name, schema).description("the " + name + " tool")
        .build()).callHandler(handler).build();
  }

  private static McpSchema.CallToolResult text(String text) {
    return McpSchema.CallToolResult.builder().addTextContent(text).build();
  }

  @Override
  public void close() throws LifecycleException {
    closing.countDown();
    server.close();
    tomcat.stop();
    tomcat.destroy();
  }
}
