package dev.talon.tools;

import io.modelcontextprotocol.common.McpTransportContext;
import io.modelcontextprotocol.server.McpServer;
import io.modelcontextprotocol.server.McpServerFeatures.SyncToolSpecification;
import io.modelcontextprotocol.server.McpSyncServer;
import io.modelcontextprotocol.server.transport.HttpServletStreamableServerTransportProvider;
import io.modelcontextprotocol.spec.McpSchema;
import jakarta.servlet.ServletException;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.catalina.Context;
import org.apache.catalina.LifecycleException;
import org.apache.catalina.connector.Connector;
import org.apache.catalina.connector.Request;
import org.apache.catalina.connector.Response;
import org.apache.catalina.startup.Tomcat;
import org.apache.catalina.valves.ValveBase;

/**
 * An MCP server on a loopback port, built with the server side of the official Java SDK
 * (Streamable HTTP, in Tomcat). Its tools: {@code echo}; {@code whoami}, which answers the
 * {@code Authorization} header it was sent; {@code hang}, which answers only once the server
 * closes. It counts the HTTP requests it gets, and the MCP sessions opened and closed.
 */
public final class HttpMcpServer implements AutoCloseable {
  private static final Map<String, Object> NO_ARGUMENTS = Map.of("type", "object");

  private final Tomcat tomcat;
  private final McpSyncServer server;
  private final int port;
  private final CountDownLatch closing = new CountDownLatch(1);
  private final AtomicInteger requests = new AtomicInteger();
  private final AtomicInteger opened = new AtomicInteger();
  private final AtomicInteger closed = new AtomicInteger();

  /** @param port 0 for any free one */
  public HttpMcpServer(int port, Path baseDir) throws LifecycleException {
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
    context.getPipeline().addValve(new ValveBase(true) {
      @Override
      public void invoke(Request request, Response response) throws IOException, ServletException {
        requests.incrementAndGet();
        // A session starts with a request that has no session id yet (the initialize), and ends with a DELETE.
        if (request.getMethod().equals("POST") && request.getHeader("Mcp-Session-Id") == null) {
          opened.incrementAndGet();
        } else if (request.getMethod().equals("DELETE")) {
          closed.incrementAndGet();
        }
        getNext().invoke(request, response);
      }
    });
    Tomcat.addServlet(context, "mcp", transport).setAsyncSupported(true);
    context.addServletMappingDecoded("/*", "mcp");
    tomcat.start();
    this.port = connector.getLocalPort();
  }

  int port() {
    return port;
  }

  public URI url() {
    return URI.create("http://127.0.0.1:" + port + "/mcp");
  }

  /** HTTP requests received so far. */
  public int requests() {
    return requests.get();
  }

  /** MCP sessions clients opened so far. */
  int sessionsOpened() {
    return opened.get();
  }

  /** MCP sessions clients ended so far. */
  int sessionsClosed() {
    return closed.get();
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
