package dev.talon.tools;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.config.McpSettings;
import dev.talon.tools.ToolFailure.Reason;
import io.modelcontextprotocol.json.McpJsonDefaults;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;
import java.util.function.UnaryOperator;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.pattern.StatusReply;

/**
 * This node's MCP servers: one {@link McpServer} actor for each configured server, which starts
 * it on first use, supervises it and runs its calls; and those that requests name (see
 * {@link #toolbox}), shared by every turn that names the same one. Every method answers with a
 * {@link CompletionStage} and blocks nothing, so an actor can pipe the answer to itself. A
 * request that gets no answer fails with a {@link ToolFailure} naming the server and why (as
 * the cause of a {@link CompletionException} in the stages that follow).
 *
 * <p>The servers stop with the node (Pekko's coordinated shutdown, after the gateway has
 * stopped taking requests), or on {@link #stop()}.
 */
public final class McpServers {
  private final ActorSystem<?> system;
  private final McpSettings settings;
  private final Map<String, ActorRef<McpServer.Command>> servers;
  private final ActorRef<RequestedServerPool.Command> requested;
  private final AtomicReference<CompletionStage<Done>> stopping = new AtomicReference<>();

  private McpServers(ActorSystem<?> system, McpSettings settings, Map<String, ActorRef<McpServer.Command>> servers,
      ActorRef<RequestedServerPool.Command> requested) {
    this.system = system;
    this.settings = settings;
    this.servers = servers;
    this.requested = requested;
  }

  /** Spawns the servers' actors on {@code system}; no server starts before it is used. */
  public static McpServers start(ActorSystem<?> system, McpSettings settings) {
    Map<String, ActorRef<McpServer.Command>> servers = new LinkedHashMap<>();
    String instance = UUID.randomUUID().toString();
    for (McpSettings.Server server : settings.servers().values()) {
      servers.put(server.id(), system.systemActorOf(McpServer.create(server, settings, McpJsonDefaults.getMapper(),
          null), "talon-mcp-" + server.id() + "-" + instance, Props.empty()));
    }
    ActorRef<RequestedServerPool.Command> requested = system.systemActorOf(
        RequestedServerPool.create(settings, McpJsonDefaults.getMapper()), "talon-mcp-requested-" + instance,
        Props.empty());
    McpServers started = new McpServers(system, settings, servers, requested);
    CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseServiceStop(), "talon-stop-mcp-servers",
        started::stop);
    return started;
  }

  /** How long a call that needs a person's approval waits for it. */
  public Duration approvalTimeout() {
    return settings.approvalTimeout();
  }

  /**
   * What one turn may use: the tools of the configured servers its agent's {@code policy} lets
   * it, and those of the servers its request names, under their rules.
   *
   * @throws RequestedServer.Refused when a requested server is one this node must not use (see
   *     {@link RequestedServer#check}); nothing is started or reached before
   */
  public Toolbox toolbox(ToolPolicy policy, List<RequestedServer> requested) {
    RequestedServer.check(requested, settings);
    return new Toolbox(this, policy, requested);
  }

  /** The configured servers' ids, in file order. */
  public Set<String> ids() {
    return servers.keySet();
  }

  /** The tools {@code server} offers, starting it if it is not running yet. */
  public CompletionStage<List<ToolSpec>> tools(String server) {
    return ask(server, McpServer.ListTools::new, settings.startTimeout());
  }

  /**
   * What one agent may call now.
   *
   * @param tools those its policy lets it see (including those that wait for approval), from
   *     every server the policy names, in the order of the config's servers
   * @param unavailable one failure for each of those servers that could not list its tools
   */
  public record Catalog(List<ToolSpec> tools, List<ToolFailure> unavailable) {
    public Catalog {
      tools = List.copyOf(tools);
      unavailable = List.copyOf(unavailable);
    }

    /** One server's part: the tools it {@code listed} that {@code visible} keeps, or why it listed none. */
    static CompletableFuture<Catalog> of(CompletionStage<List<ToolSpec>> listed,
        UnaryOperator<List<ToolSpec>> visible) {
      return listed.handle((tools, failure) -> failure == null ? new Catalog(visible.apply(tools), List.of())
          : new Catalog(List.of(), List.of((ToolFailure) McpServer.unwrap(failure)))).toCompletableFuture();
    }

    /** The parts as one, in their order, once each is there. */
    static CompletionStage<Catalog> gather(List<CompletableFuture<Catalog>> parts) {
      return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new)).thenApply(all -> {
        List<ToolSpec> tools = new ArrayList<>();
        List<ToolFailure> unavailable = new ArrayList<>();
        parts.forEach(part -> {
          tools.addAll(part.join().tools());
          unavailable.addAll(part.join().unavailable());
        });
        return new Catalog(tools, unavailable);
      });
    }
  }

  /** What {@code policy}'s agent may call now; the servers it names are started if need be. */
  public CompletionStage<Catalog> catalog(ToolPolicy policy) {
    return Catalog.gather(servers.keySet().stream().filter(policy.servers()::contains)
        .map(id -> Catalog.of(tools(id), policy::visible)).toList());
  }

  /** The tools {@code server} offers, under its label; connects to it if no turn has lately. */
  CompletionStage<List<ToolSpec>> tools(RequestedServer server) {
    return relabeled(server, askRequested(server, McpServer.ListTools::new, settings.startTimeout()))
        .thenApply(tools -> tools.stream()
            .map(tool -> new ToolSpec(server.label(), tool.name(), tool.description(), tool.inputSchema())).toList());
  }

  /** Like {@link #call(String, String, JsonNode)}, for a server a request named. */
  CompletionStage<ToolResult> call(RequestedServer server, String tool, JsonNode arguments) {
    return relabeled(server, this.<ToolResult>askRequested(server,
        replyTo -> new McpServer.Call(tool, arguments, replyTo), requestedDeadline()))
        .thenApply(result -> new ToolResult(server.label(), result.tool(), result.text(), result.error(),
            result.fullChars(), result.truncated()));
  }

  /** {@link #deadline(String)} of a server a request named: it has the node's call timeout. */
  Duration requestedDeadline() {
    return settings.startTimeout().plus(settings.callTimeout());
  }

  private <T> CompletionStage<T> askRequested(RequestedServer server,
      Function<ActorRef<StatusReply<T>>, McpServer.Command> request, Duration within) {
    RequestedServerPool.Endpoint endpoint = RequestedServerPool.Endpoint.of(server);
    return ask(server.label(), requested,
        replyTo -> new RequestedServerPool.Forward(endpoint, request.apply(replyTo)), within);
  }

  /** A requested server's failures, as the turn knows it: by its label (their messages name its URL). */
  private static <T> CompletionStage<T> relabeled(RequestedServer server, CompletionStage<T> answer) {
    return answer.exceptionallyCompose(failure -> {
      ToolFailure cause = (ToolFailure) McpServer.unwrap(failure);
      return CompletableFuture.failedFuture(new ToolFailure(cause.reason(), server.label(), cause.getMessage()));
    });
  }

  /**
   * Calls {@code tool} of {@code server} with {@code arguments} (a JSON object, or null for
   * none), starting the server if it is not running yet. A result the server marks as an error
   * is still a result; a call that gets none fails with a {@link ToolFailure}. This runs any
   * tool it is asked to: checking the agent's {@link ToolPolicy} first is the caller's part.
   */
  public CompletionStage<ToolResult> call(String server, String tool, JsonNode arguments) {
    return ask(server, replyTo -> new McpServer.Call(tool, arguments, replyTo), deadline(server));
  }

  /** {@code call} with {@code arguments} as JSON, or failed as {@link Reason#REJECTED} when they are not an object. */
  static CompletionStage<ToolResult> withArguments(String server, String tool, String arguments,
      Function<JsonNode, CompletionStage<ToolResult>> call) {
    JsonNode parsed;
    try {
      parsed = arguments == null || arguments.isBlank() ? null
          : McpJsonDefaults.getMapper().readValue(arguments, JsonNode.class);
    } catch (java.io.IOException e) {
      parsed = null;
    }
    if (arguments != null && !arguments.isBlank() && (parsed == null || !parsed.isObject())) {
      return CompletableFuture.failedFuture(new ToolFailure(Reason.REJECTED, server, "the arguments of " + server
          + "/" + tool + " are not a JSON object: " + arguments));
    }
    return call.apply(parsed);
  }

  /**
   * How long a call of {@code server}'s may take at most, from asking to answer: a start of the
   * server, then the call itself.
   */
  public Duration deadline(String server) {
    McpSettings.Server configured = settings.servers().get(server);
    return settings.startTimeout().plus(configured == null ? settings.callTimeout() : configured.callTimeout());
  }

  /** Where every server stands, in config order; starts none. */
  public CompletionStage<List<ServerStatus>> status() {
    List<CompletableFuture<ServerStatus>> statuses = ids().stream().map(id -> status(id).toCompletableFuture())
        .toList();
    return CompletableFuture.allOf(statuses.toArray(CompletableFuture[]::new))
        .thenApply(all -> statuses.stream().map(CompletableFuture::join).toList());
  }

  /** Where server {@code id} stands; starts it not. */
  public CompletionStage<ServerStatus> status(String id) {
    if (!servers.containsKey(id)) {
      return CompletableFuture.failedFuture(unknown(id));
    }
    if (stopping.get() != null) {
      return CompletableFuture.completedFuture(new ServerStatus(id,
          settings.servers().get(id).transport().describe(), ServerStatus.State.STOPPED, "", OptionalLong.empty(), 0,
          List.of()));
    }
    return AskPattern.ask(servers.get(id), McpServer.GetStatus::new, settings.startTimeout(), system.scheduler());
  }

  /**
   * Stops every server: its session ended, its process and what that started terminated, killed
   * after {@code talon.mcp.stopTimeoutSeconds}. Later requests fail at once. Done once; every
   * caller gets the same stage.
   */
  public CompletionStage<Done> stop() {
    CompletableFuture<Done> stopped = new CompletableFuture<>();
    if (!stopping.compareAndSet(null, stopped)) {
      return stopping.get();
    }
    // A start under way is finished first, so that its process is stopped too.
    Duration within = settings.startTimeout().plus(settings.stopTimeout()).multipliedBy(2);
    List<CompletableFuture<Done>> each = new ArrayList<>();
    servers.values().forEach(ref -> each.add(AskPattern.<McpServer.Command, Done>ask(ref, McpServer.Stop::new,
        within, system.scheduler()).toCompletableFuture()));
    each.add(AskPattern.<RequestedServerPool.Command, Done>ask(requested, RequestedServerPool.StopAll::new, within,
        system.scheduler()).toCompletableFuture());
    CompletableFuture.allOf(each.toArray(CompletableFuture[]::new)).whenComplete((done, failure) -> {
      if (failure != null) {
        system.log().warn("an MCP server did not confirm its stop: {}", failure.toString());
      }
      stopped.complete(Done.getInstance());
    });
    return stopped;
  }

  /** Asks the actor of {@code server}, a configured one. */
  private <T> CompletionStage<T> ask(String server, Function<ActorRef<StatusReply<T>>, McpServer.Command> request,
      Duration within) {
    ActorRef<McpServer.Command> ref = servers.get(server);
    if (ref == null) {
      return CompletableFuture.failedFuture(unknown(server));
    }
    return ask(server, ref, request, within);
  }

  private ToolFailure unknown(String server) {
    return new ToolFailure(Reason.UNKNOWN_SERVER, server, "no MCP server \"" + server + "\" is configured"
        + (servers.isEmpty() ? "" : "; talon.mcp.servers has " + String.join(", ", ids())));
  }

  /**
   * Asks {@code ref}, the actor of {@code server} or the pool in front of it. The server's actor
   * answers within {@code within} (a start and a call, each under its own timeout); the ask's own
   * timeout, twice that, is only a net under it.
   */
  private <M, T> CompletionStage<T> ask(String server, ActorRef<M> ref, Function<ActorRef<StatusReply<T>>, M> request,
      Duration within) {
    if (stopping.get() != null) {
      return CompletableFuture.failedFuture(new ToolFailure(Reason.STOPPED, server, "MCP server \"" + server
          + "\" is stopping with the node"));
    }
    return AskPattern.askWithStatus(ref, request::apply, within.multipliedBy(2), system.scheduler())
        .exceptionallyCompose(failure -> {
          Throwable cause = McpServer.unwrap(failure);
          return CompletableFuture.failedFuture(cause instanceof ToolFailure ? cause
              : new ToolFailure(Reason.TIMEOUT, server, "MCP server \"" + server + "\" did not answer within "
                  + within.multipliedBy(2).toSeconds() + " s (" + cause + ")"));
        });
  }
}
