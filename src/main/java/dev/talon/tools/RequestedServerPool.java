package dev.talon.tools;

import dev.talon.config.McpSettings;
import dev.talon.tools.ToolFailure.Reason;
import io.modelcontextprotocol.json.McpJsonMapper;
import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

/**
 * The servers requests named on this node: one {@link McpServer} for each URL and set of headers,
 * shared by every turn that names it under whatever label, started on first use and stopped once
 * unused for {@code talon.mcp.requestedServerIdleSeconds}. Every request to them comes through
 * here, which is what lets an idle one stop without a request getting lost on the way to it.
 */
final class RequestedServerPool extends AbstractBehavior<RequestedServerPool.Command> {
  sealed interface Command {}

  /** Hands {@code request} (a listing or a call) to the server at {@code endpoint}, started if need be. */
  record Forward(Endpoint endpoint, McpServer.Command request) implements Command {}

  /** Stops every server, then the pool. */
  record StopAll(ActorRef<Done> replyTo) implements Command {}

  private record Idle(ActorRef<McpServer.Command> server) implements Command {}

  private record Stopped(Endpoint endpoint, ActorRef<McpServer.Command> server) implements Command {}

  /**
   * What makes two requested servers one: a connection sends its headers with every request, so
   * servers named with different credentials never share one.
   */
  record Endpoint(URI url, Map<String, String> headers) {
    static Endpoint of(RequestedServer server) {
      return new Endpoint(server.url(), server.headers());
    }

    /**
     * The server as its actor knows it. Its id is the URL, which is what its failures and log
     * lines name: each turn knows it by a label of its own.
     */
    McpSettings.Server server(McpSettings settings) {
      return new McpSettings.Server(url.toString(), new McpSettings.Http(url, headers), settings.callTimeout());
    }
  }

  static Behavior<Command> create(McpSettings settings, McpJsonMapper json) {
    return Behaviors.setup(context -> new RequestedServerPool(context, settings, json));
  }

  private final McpSettings settings;
  private final McpJsonMapper json;
  private final ActorRef<McpServer.Idle> idle;
  /** The server each endpoint's requests go to. */
  private final Map<Endpoint, ActorRef<McpServer.Command>> current = new HashMap<>();
  /** Those, and those that stopped being current while a call kept them up. */
  private final Set<ActorRef<McpServer.Command>> running = new HashSet<>();
  private final List<ActorRef<Done>> stoppers = new ArrayList<>();
  private int spawned;

  private RequestedServerPool(ActorContext<Command> context, McpSettings settings, McpJsonMapper json) {
    super(context);
    this.settings = settings;
    this.json = json;
    this.idle = context.messageAdapter(McpServer.Idle.class, told -> new Idle(told.server()));
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Forward.class, this::onForward)
        .onMessage(Idle.class, this::onIdle)
        .onMessage(Stopped.class, this::onStopped)
        .onMessage(StopAll.class, this::onStopAll)
        .build();
  }

  private Behavior<Command> onForward(Forward forward) {
    if (!stoppers.isEmpty()) {
      String id = forward.endpoint().url().toString();
      McpServer.fail(forward.request(), new ToolFailure(Reason.STOPPED, id, "MCP server \"" + id
          + "\" is stopping with the node"));
      return this;
    }
    current.computeIfAbsent(forward.endpoint(), this::spawn).tell(forward.request());
    return this;
  }

  private ActorRef<McpServer.Command> spawn(Endpoint endpoint) {
    ActorRef<McpServer.Command> server = getContext().spawn(McpServer.create(endpoint.server(settings), settings, json,
        new McpServer.Idling(settings.requestedServerIdle(), idle)), "server-" + ++spawned);
    getContext().watchWith(server, new Stopped(endpoint, server));
    running.add(server);
    return server;
  }

  /** The server gets no more requests from here on; the next one for its endpoint starts another. */
  private Behavior<Command> onIdle(Idle idle) {
    current.values().remove(idle.server());
    idle.server().tell(new McpServer.StopIfIdle());
    return this;
  }

  private Behavior<Command> onStopped(Stopped stopped) {
    current.remove(stopped.endpoint(), stopped.server());
    running.remove(stopped.server());
    return stoppedAll();
  }

  private Behavior<Command> onStopAll(StopAll stop) {
    stoppers.add(stop.replyTo());
    running.forEach(server -> server.tell(new McpServer.Stop(getContext().getSystem().ignoreRef())));
    return stoppedAll();
  }

  private Behavior<Command> stoppedAll() {
    if (stoppers.isEmpty() || !running.isEmpty()) {
      return this;
    }
    stoppers.forEach(stopper -> stopper.tell(Done.getInstance()));
    return Behaviors.stopped();
  }
}
