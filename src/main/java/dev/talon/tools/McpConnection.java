package dev.talon.tools;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.config.McpSettings;
import io.modelcontextprotocol.client.McpAsyncClient;
import io.modelcontextprotocol.client.McpClient;
import io.modelcontextprotocol.client.transport.HttpClientStreamableHttpTransport;
import io.modelcontextprotocol.client.transport.ServerParameters;
import io.modelcontextprotocol.client.transport.StdioClientTransport;
import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.json.TypeRef;
import io.modelcontextprotocol.spec.McpClientTransport;
import io.modelcontextprotocol.spec.McpSchema;
import java.io.File;
import java.io.IOException;
import java.lang.reflect.Field;
import java.net.URI;
import java.net.http.HttpRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;

/**
 * One session with an MCP server through the official SDK's asynchronous client, over stdio (a
 * child process) or Streamable HTTP. Nothing here blocks a thread: the SDK answers with
 * {@link Mono}s, handed on as {@link CompletionStage}s that complete on the SDK's own threads.
 *
 * <p>The SDK has its own JSON mapper ({@code mcp-json-jackson2}'s default), apart from Pekko's:
 * its schema types need the mapper they were written for.
 */
final class McpConnection {
  private static final Logger log = LoggerFactory.getLogger(McpConnection.class);
  private static final TypeRef<Map<String, Object>> OBJECT = new TypeRef<>() {};
  private static final McpSchema.Implementation CLIENT = new McpSchema.Implementation("talon",
      Optional.ofNullable(McpConnection.class.getPackage().getImplementationVersion()).orElse("dev"));

  private final McpSettings.Server server;
  private final McpSettings settings;
  private final McpJsonMapper json;
  private final McpAsyncClient client;
  /** Null for a server over HTTP. */
  private final ChildProcessTransport child;
  private volatile String lastStderr;
  private volatile List<ToolSpec> tools = List.of();
  private final AtomicReference<CompletionStage<Void>> closed = new AtomicReference<>();

  /**
   * A connection to {@code server}, not started yet.
   *
   * @param toolsChanged told the new list whenever the server says its tools changed
   */
  McpConnection(McpSettings.Server server, McpSettings settings, McpJsonMapper json,
      Consumer<List<ToolSpec>> toolsChanged) {
    this.server = server;
    this.settings = settings;
    this.json = json;
    McpClientTransport transport;
    if (server.transport() instanceof McpSettings.Stdio stdio) {
      child = new ChildProcessTransport(ServerParameters.builder(stdio.command()).args(stdio.args()).env(stdio.env())
          .build(), json, stdio.cwd());
      child.setStdErrorHandler(line -> {
        lastStderr = line;
        log.info("{}: {}", server.id(), line);
      });
      transport = child;
    } else {
      McpSettings.Http http = (McpSettings.Http) server.transport();
      child = null;
      HttpRequest.Builder headers = HttpRequest.newBuilder();
      http.headers().forEach(headers::header);
      URI url = http.url();
      transport = HttpClientStreamableHttpTransport.builder(url.getScheme() + "://" + url.getRawAuthority())
          .endpoint(url.getRawPath() + (url.getRawQuery() == null ? "" : "?" + url.getRawQuery()))
          .jsonMapper(json).requestBuilder(headers).connectTimeout(settings.startTimeout()).build();
    }
    client = McpClient.async(transport).clientInfo(CLIENT).requestTimeout(server.callTimeout())
        .initializationTimeout(settings.startTimeout())
        .toolsChangeConsumer(changed -> Mono.fromRunnable(() -> {
          tools = specs(changed);
          toolsChanged.accept(tools);
        })).build();
  }

  /**
   * Starts the server (or connects to it), completes the MCP handshake and lists its tools,
   * within the start timeout. A process that exits meanwhile fails the start at once, with the
   * last line it wrote to stderr; nothing is left running after a failed start.
   */
  CompletionStage<Void> start() {
    if (server.transport() instanceof McpSettings.Stdio stdio && stdio.cwd().isPresent()
        && !Files.isDirectory(Path.of(stdio.cwd().get()))) {
      IOException noDirectory = new IOException("its working directory " + stdio.cwd().get() + " is not a directory");
      child.started.completeExceptionally(noDirectory);
      return CompletableFuture.failedFuture(noDirectory);
    }
    CompletableFuture<Void> started = new CompletableFuture<>();
    exited().whenComplete((exit, startFailure) -> started.completeExceptionally(
        startFailure != null ? startFailure : new IOException(exit)));
    client.initialize().then(Mono.defer(this::listTools)).timeout(settings.startTimeout()).toFuture()
        .whenComplete((listed, failure) -> {
          if (failure == null) {
            tools = listed;
            started.complete(null);
          } else {
            started.completeExceptionally(failure);
          }
        });
    started.whenComplete((ignored, failure) -> {
      if (failure != null) {
        close();
      }
    });
    return started;
  }

  private Mono<List<ToolSpec>> listTools() {
    if (client.getServerCapabilities().tools() == null) {
      return Mono.just(List.of());
    }
    return client.listTools().map(result -> specs(result.tools()));
  }

  /** The server's tools: listed when the connection opened, listed again whenever the server says they changed. */
  List<ToolSpec> tools() {
    return tools;
  }

  /** The server's name and version as it reported them. */
  String serverInfo() {
    McpSchema.Implementation info = client.getServerInfo();
    return info == null ? "" : info.name() + " " + info.version();
  }

  OptionalLong pid() {
    return child == null || !child.started.isDone() || child.started.isCompletedExceptionally() ? OptionalLong.empty()
        : OptionalLong.of(child.started.join().pid());
  }

  /**
   * Completes with how the server's process ended ({@code "exited with code 1 (stderr: <the
   * last line it wrote there>)"}), or with the failure to start it; never for a server over HTTP,
   * which has no process.
   */
  CompletionStage<String> exited() {
    if (child == null) {
      return new CompletableFuture<>();
    }
    return child.started.thenCompose(Process::onExit).thenApply(process -> "exited with code " + process.exitValue()
        + (lastStderr == null ? "" : " (stderr: " + lastStderr + ")"));
  }

  /** Calls {@code tool}; fails with the SDK's {@code McpError} when the server refuses, or its timeout. */
  CompletionStage<ToolResult> call(String tool, JsonNode arguments) {
    Map<String, Object> args =
        arguments == null || arguments.isNull() ? Map.of() : json.convertValue(arguments, OBJECT);
    return client.callTool(McpSchema.CallToolRequest.builder(tool).arguments(args).build()).toFuture()
        .thenApply(result -> ToolResult.of(server.id(), tool, text(result), Boolean.TRUE.equals(result.isError()),
            settings.maxResultChars()));
  }

  /**
   * Ends the session and its process: SIGTERM to the process and whatever it started (a server
   * run through a shell or {@code npx} leaves the real one behind otherwise), then after the stop
   * timeout SIGKILL to any of them still alive. A process still being started is stopped as soon
   * as it is there. Completes when they are gone; closing again changes nothing.
   */
  CompletionStage<Void> close() {
    CompletableFuture<Void> closing = new CompletableFuture<>();
    if (!closed.compareAndSet(null, closing)) {
      return closed.get();
    }
    // Waits for the process to exit, so it ends once the process is gone or the stop timeout is up.
    CompletableFuture<Void> session = client.closeGracefully().toFuture().exceptionally(failure -> {
      log.debug("{}: closing the MCP session failed", server.id(), failure);
      return null;
    }).completeOnTimeout(null, settings.stopTimeout().toMillis(), TimeUnit.MILLISECONDS);
    CompletionStage<Void> done = child == null ? session
        : child.started.handle((process, failedToStart) -> process)
            .thenCompose(process -> process == null ? session : stop(process.toHandle(), session));
    done.whenComplete((ignored, failure) -> closing.complete(null));
    return closing;
  }

  private static CompletionStage<Void> stop(ProcessHandle process, CompletableFuture<Void> session) {
    List<ProcessHandle> tree = new ArrayList<>();
    tree.add(process);
    process.descendants().forEach(tree::add);
    // The SDK terminates the process too, unless its session closed before the process was there.
    tree.forEach(ProcessHandle::destroy);
    return session.thenCompose(ignored -> {
      tree.stream().filter(ProcessHandle::isAlive).forEach(ProcessHandle::destroyForcibly);
      return CompletableFuture.allOf(tree.stream().map(ProcessHandle::onExit).toArray(CompletableFuture[]::new));
    });
  }

  private List<ToolSpec> specs(List<McpSchema.Tool> tools) {
    return tools.stream().map(t -> new ToolSpec(server.id(), t.name(),
        t.description() != null ? t.description() : t.title() != null ? t.title() : "",
        json.convertValue(t.inputSchema(), JsonNode.class))).toList();
  }

  /** The result's content as text; what is not text is described in a line, not sent as data. */
  private String text(McpSchema.CallToolResult result) {
    List<String> parts = new ArrayList<>();
    for (McpSchema.Content content : result.content()) {
      parts.add(text(content));
    }
    if (parts.isEmpty() && result.structuredContent() != null) {
      try {
        parts.add(json.writeValueAsString(result.structuredContent()));
      } catch (IOException e) {
        parts.add("[structured content that could not be written as JSON: " + e.getMessage() + "]");
      }
    }
    return String.join("\n", parts);
  }

  private static String text(McpSchema.Content content) {
    if (content instanceof McpSchema.TextContent text) {
      return text.text();
    }
    if (content instanceof McpSchema.ImageContent image) {
      return "[image: " + image.mimeType() + ", " + image.data().length() + " characters of base64]";
    }
    if (content instanceof McpSchema.AudioContent audio) {
      return "[audio: " + audio.mimeType() + ", " + audio.data().length() + " characters of base64]";
    }
    if (content instanceof McpSchema.EmbeddedResource embedded) {
      return embedded.resource() instanceof McpSchema.TextResourceContents text ? text.text()
          : "[resource " + embedded.resource().uri() + ": " + embedded.resource().mimeType() + "]";
    }
    if (content instanceof McpSchema.ResourceLink link) {
      return "[resource link " + link.uri() + (link.name() == null ? "" : ": " + link.name()) + "]";
    }
    return "[" + content.type() + " content]";
  }

  /**
   * The SDK's stdio transport with two changes. The child gets only the variables the SDK picks
   * for it ({@code HOME}, {@code PATH}, … and the configured {@code env}): the SDK adds them to a
   * copy of Talon's whole environment, provider keys included. And the process itself is
   * published, which the SDK keeps private: supervising a server means seeing it exit, and
   * stopping it means reaching the processes it started.
   */
  private static final class ChildProcessTransport extends StdioClientTransport {
    private static final Field PROCESS = processField();

    private final Optional<String> cwd;
    /** The process once it started, or the failure to start it. */
    final CompletableFuture<Process> started = new CompletableFuture<>();

    ChildProcessTransport(ServerParameters parameters, McpJsonMapper json, Optional<String> cwd) {
      super(parameters, json);
      this.cwd = cwd;
    }

    @Override
    public Mono<Void> connect(Function<Mono<McpSchema.JSONRPCMessage>, Mono<McpSchema.JSONRPCMessage>> handler) {
      // The SDK only logs a failed start, leaving the handshake to wait out its timeout. A start
      // can also fail after the process is there (the transport closed meanwhile): it must not
      // outlive the failure.
      return super.connect(handler).doOnError(failure -> {
        process().ifPresent(Process::destroyForcibly);
        started.completeExceptionally(failure);
      });
    }

    @Override
    protected ProcessBuilder getProcessBuilder() {
      ProcessBuilder builder = new ProcessBuilder();
      builder.environment().clear();
      cwd.ifPresent(dir -> builder.directory(new File(dir)));
      return builder;
    }

    /** Called by {@code connect} as soon as the process has started. */
    @Override
    protected void handleOutbound(Function<Flux<McpSchema.JSONRPCMessage>, Flux<McpSchema.JSONRPCMessage>> outbound) {
      super.handleOutbound(outbound);
      process().ifPresent(started::complete);
    }

    private Optional<Process> process() {
      try {
        return Optional.ofNullable((Process) PROCESS.get(this));
      } catch (IllegalAccessException e) {
        throw new IllegalStateException(e);
      }
    }

    private static Field processField() {
      try {
        Field field = StdioClientTransport.class.getDeclaredField("process");
        field.setAccessible(true);
        return field;
      } catch (NoSuchFieldException e) {
        throw new IllegalStateException("this MCP SDK's stdio transport keeps its process elsewhere; see"
            + " ChildProcessTransport", e);
      }
    }
  }
}
