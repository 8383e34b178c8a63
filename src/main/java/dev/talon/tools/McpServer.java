package dev.talon.tools;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.config.McpSettings;
import dev.talon.tools.ServerStatus.State;
import dev.talon.tools.ToolFailure.Reason;
import io.modelcontextprotocol.json.McpJsonMapper;
import io.modelcontextprotocol.spec.McpError;
import java.net.ConnectException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.OptionalLong;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.pattern.StatusReply;

/**
 * One configured MCP server on this node. It starts the server on first use, keeps its tool list
 * (listed again when the server says it changed), runs its calls, and supervises it: a server that
 * dies or fails to start is down, every request fails at once saying why, and it is started again
 * after a backoff that doubles with each failure in a row up to the configured bound. A server
 * that then stays up as long as that bound starts its backoff over.
 *
 * <p>Calls run concurrently; their answers come back through this actor, which knows why a
 * failed call failed (the process that exited under it, the connection that broke).
 *
 * <p>A server that requests named, rather than the config, is also stopped once no one has used
 * it for a while: see {@link Idling}.
 */
final class McpServer extends AbstractBehavior<McpServer.Command> {
  sealed interface Command {}

  record ListTools(ActorRef<StatusReply<List<ToolSpec>>> replyTo) implements Command {}

  record Call(String tool, JsonNode arguments, ActorRef<StatusReply<ToolResult>> replyTo) implements Command {}

  /** Answered at once, without starting the server. */
  record GetStatus(ActorRef<ServerStatus> replyTo) implements Command {}

  /** Ends the session and the process, then this actor. */
  record Stop(ActorRef<Done> replyTo) implements Command {}

  /**
   * How a server stops when unused. It cannot just stop: a request could be on its way to it.
   * So it tells {@code pool}, through which every request comes to it, that it has been idle
   * for {@code after}; the pool sends no more and answers {@link StopIfIdle}. Whatever the pool
   * sent before is served first, and a call under way keeps the server up until it is done.
   */
  record Idling(Duration after, ActorRef<Idle> pool) {}

  /** Told the pool: {@code server} has been idle for its {@link Idling#after()}. */
  record Idle(ActorRef<Command> server) {}

  /** From the pool, which sends this server nothing more: stop, unless a call is under way. */
  record StopIfIdle() implements Command {}

  /** The outcome of the start under way (there is never more than one). */
  private enum Opened implements Command {
    INSTANCE
  }

  private record OpenFailed(Throwable cause) implements Command {}

  /** Messages about a running server carry the generation of its start: those of an earlier one are stale. */
  private record Exited(int generation, String how) implements Command {}

  private record ToolsChanged(int generation, List<ToolSpec> tools) implements Command {}

  private record Called(int generation, Call call, ToolResult result, Throwable failure) implements Command {}

  private enum Restart implements Command {
    INSTANCE
  }

  private record Closed() implements Command {}

  private enum IdleCheck implements Command {
    INSTANCE
  }

  /** @param idling null for a server that runs until it is told to stop */
  static Behavior<Command> create(McpSettings.Server server, McpSettings settings, McpJsonMapper json,
      Idling idling) {
    return Behaviors.setup(context -> Behaviors.withTimers(timers -> new McpServer(context, timers, server, settings,
        json, idling)));
  }

  /** Enough to reach the exception that says what happened, not a whole stack of wrappers. */
  private static final int MAX_CAUSES = 3;

  private final TimerScheduler<Command> timers;
  private final McpSettings.Server server;
  private final McpSettings settings;
  private final McpJsonMapper json;
  private final Idling idling;

  private State state = State.IDLE;
  private int generation;
  private McpConnection connection;
  /** Requests that came while the server was starting. */
  private final List<Command> waiting = new ArrayList<>();
  /** Starts that failed or servers that died in a row: the backoff's exponent. */
  private int failures;
  private int restarts;
  private long readySince;
  private String downReason;
  private long nextStart;
  private ActorRef<Done> stopper;
  /** Calls sent to the server and not answered yet. */
  private int calls;

  private McpServer(ActorContext<Command> context, TimerScheduler<Command> timers, McpSettings.Server server,
      McpSettings settings, McpJsonMapper json, Idling idling) {
    super(context);
    this.timers = timers;
    this.server = server;
    this.settings = settings;
    this.json = json;
    this.idling = idling;
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(ListTools.class, this::onRequest)
        .onMessage(Call.class, this::onRequest)
        .onMessage(GetStatus.class, this::onGetStatus)
        .onMessage(Stop.class, this::onStop)
        .onMessage(Opened.class, this::onOpened)
        .onMessage(OpenFailed.class, this::onOpenFailed)
        .onMessage(Exited.class, this::onExited)
        .onMessage(ToolsChanged.class, this::onToolsChanged)
        .onMessage(Called.class, this::onCalled)
        .onMessage(Restart.class, this::onRestart)
        .onMessage(Closed.class, closed -> onClosed())
        .onMessage(IdleCheck.class, this::onIdleCheck)
        .onMessage(StopIfIdle.class, this::onStopIfIdle)
        .build();
  }

  private Behavior<Command> onRequest(Command request) {
    idleFromNow();
    switch (state) {
      case IDLE -> {
        start();
        waiting.add(request);
      }
      case STARTING -> waiting.add(request);
      case READY -> serve(request);
      case DOWN -> fail(request, new ToolFailure(Reason.DOWN, server.id(), "MCP server \"" + server.id()
          + "\" is down: " + downReason + "; it is started again in " + seconds(nextStart - System.nanoTime())));
      case STOPPED -> fail(request, stopped());
    }
    return this;
  }

  private void serve(Command request) {
    if (request instanceof ListTools list) {
      list.replyTo().tell(StatusReply.success(connection.tools()));
    } else if (request instanceof Call call) {
      calls++;
      int calledOn = generation;
      getContext().pipeToSelf(connection.call(call.tool(), call.arguments()),
          (result, failure) -> new Called(calledOn, call, result, failure));
    }
  }

  static void fail(Command request, ToolFailure failure) {
    if (request instanceof ListTools list) {
      list.replyTo().tell(StatusReply.error(failure));
    } else if (request instanceof Call call) {
      call.replyTo().tell(StatusReply.error(failure));
    }
  }

  private void start() {
    state = State.STARTING;
    int starting = ++generation;
    ActorRef<Command> self = getContext().getSelf();
    connection = new McpConnection(server, settings, json, tools -> self.tell(new ToolsChanged(starting, tools)));
    getContext().pipeToSelf(connection.start(),
        (started, failure) -> failure == null ? Opened.INSTANCE : new OpenFailed(failure));
  }

  private Behavior<Command> onOpened(Opened opened) {
    if (state != State.STARTING) { // stopped meanwhile
      return this;
    }
    state = State.READY;
    readySince = System.nanoTime();
    getContext().getLog().info("MCP server {} is ready: {} ({} tools, {})", server.id(), connection.serverInfo(),
        connection.tools().size(), server.transport().describe());
    int running = generation;
    getContext().pipeToSelf(connection.exited(), (how, failure) -> new Exited(running, how));
    waiting.forEach(this::serve);
    waiting.clear();
    return this;
  }

  private Behavior<Command> onOpenFailed(OpenFailed failed) {
    if (state != State.STARTING) {
      return this;
    }
    down("cannot start: " + describe(failed.cause(), settings.startTimeout()));
    waiting.forEach(this::onRequest);
    waiting.clear();
    return this;
  }

  private Behavior<Command> onExited(Exited exited) {
    if (exited.generation() == generation && state == State.READY) {
      down(exited.how());
    }
    return this;
  }

  private Behavior<Command> onToolsChanged(ToolsChanged changed) {
    if (changed.generation() == generation) {
      getContext().getLog().info("MCP server {} changed its tools: {}", server.id(),
          changed.tools().stream().map(ToolSpec::name).toList());
    }
    return this;
  }

  private Behavior<Command> onCalled(Called called) {
    if (--calls == 0) {
      idleFromNow();
    }
    Call call = called.call();
    if (called.failure() == null) {
      call.replyTo().tell(StatusReply.success(called.result()));
      return this;
    }
    Throwable cause = unwrap(called.failure());
    String what = "MCP server \"" + server.id() + "\"";
    ToolFailure failure;
    if (cause instanceof McpError refused) {
      failure = new ToolFailure(Reason.REJECTED, server.id(), what + " refused the call of " + call.tool() + ": "
          + refused.getMessage());
    } else if (cause instanceof TimeoutException) {
      failure = new ToolFailure(Reason.TIMEOUT, server.id(), what + " did not answer the call of " + call.tool()
          + " within " + seconds(server.callTimeout().toNanos()));
    } else if (state == State.STOPPED) {
      failure = stopped();
    } else {
      if (called.generation() == generation && state == State.READY) {
        down("the connection failed: " + describe(cause, server.callTimeout()));
      }
      failure = new ToolFailure(Reason.DOWN, server.id(), what + " went down during the call of " + call.tool() + ": "
          + (called.generation() == generation ? downReason : describe(cause, server.callTimeout())));
    }
    call.replyTo().tell(StatusReply.error(failure));
    return this;
  }

  /** Marks the server down, ends what is left of it, and schedules the next start. */
  private void down(String reason) {
    boolean wasUp = state == State.READY;
    if (wasUp && System.nanoTime() - readySince >= settings.restartBackoffMax().toNanos()) {
      failures = 0;
    }
    if (connection != null) {
      connection.close();
      connection = null;
    }
    state = State.DOWN;
    downReason = reason;
    Duration backoff = backoff(++failures);
    nextStart = System.nanoTime() + backoff.toNanos();
    timers.startSingleTimer(Restart.INSTANCE, backoff);
    getContext().getLog().warn("MCP server {} is down: {}; starting it again in {}", server.id(), reason,
        seconds(backoff.toNanos()));
  }

  private Duration backoff(int failuresInARow) {
    Duration max = settings.restartBackoffMax();
    Duration delay = settings.restartBackoffInitial();
    for (int i = 1; i < failuresInARow && delay.compareTo(max) < 0; i++) {
      delay = delay.multipliedBy(2);
    }
    return delay.compareTo(max) < 0 ? delay : max;
  }

  private Behavior<Command> onRestart(Restart restart) {
    if (state == State.DOWN) {
      restarts++;
      start();
    }
    return this;
  }

  private Behavior<Command> onGetStatus(GetStatus get) {
    String detail = switch (state) {
      case READY -> connection.serverInfo();
      case DOWN -> downReason + "; started again in " + seconds(nextStart - System.nanoTime());
      default -> "";
    };
    OptionalLong pid = state == State.READY ? connection.pid() : OptionalLong.empty();
    get.replyTo().tell(new ServerStatus(server.id(), server.transport().describe(), state, detail, pid, restarts,
        state == State.READY ? connection.tools() : List.of()));
    return this;
  }

  /** A start under way is ended too: its process is stopped as soon as it is there. */
  private Behavior<Command> onStop(Stop stop) {
    stopper = stop.replyTo();
    state = State.STOPPED;
    timers.cancelAll();
    waiting.forEach(request -> fail(request, stopped()));
    waiting.clear();
    if (connection == null) {
      return onClosed();
    }
    getContext().pipeToSelf(connection.close(), (done, failure) -> new Closed());
    return this;
  }

  /** Starts the wait after which an unused server tells its pool it is idle, for a server that has one. */
  private void idleFromNow() {
    if (idling != null && state != State.STOPPED) {
      timers.startSingleTimer(IdleCheck.INSTANCE, idling.after());
    }
  }

  /** A start or a call under way; a server that is down is not busy, and stops when idle like one that is up. */
  private boolean busy() {
    return state == State.STARTING || calls > 0;
  }

  private Behavior<Command> onIdleCheck(IdleCheck check) {
    if (busy()) {
      idleFromNow();
    } else {
      idling.pool().tell(new Idle(getContext().getSelf()));
    }
    return this;
  }

  /** A server busy now tells its pool again once it has been idle for long enough. */
  private Behavior<Command> onStopIfIdle(StopIfIdle stop) {
    if (state == State.STOPPED) {
      return this;
    }
    if (busy()) {
      idleFromNow();
      return this;
    }
    return onStop(new Stop(getContext().getSystem().ignoreRef()));
  }

  private Behavior<Command> onClosed() {
    stopper.tell(Done.getInstance());
    return Behaviors.stopped();
  }

  private ToolFailure stopped() {
    return new ToolFailure(Reason.STOPPED, server.id(), "MCP server \"" + server.id() + "\" is stopping with the node");
  }

  static Throwable unwrap(Throwable failure) {
    return failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
  }

  /**
   * The messages of a failure and its causes, each once: the SDK wraps the exception that says
   * what happened ("Cannot run program …", a refused connection) in its own.
   *
   * @param timeout what a timeout waited for
   */
  private static String describe(Throwable failure, Duration timeout) {
    Throwable cause = unwrap(failure);
    if (cause instanceof TimeoutException) {
      return "no answer within " + seconds(timeout.toNanos());
    }
    List<String> messages = new ArrayList<>();
    for (Throwable t = cause; t != null && messages.size() < MAX_CAUSES; t = t.getCause() == t ? null : t.getCause()) {
      // Java's HTTP client says nothing more of a refused connection.
      if (t instanceof ConnectException && t.getMessage() == null) {
        messages.add("the connection was refused");
        break;
      }
      String message = t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
      if (messages.stream().noneMatch(known -> known.contains(message))) {
        messages.add(message);
      }
    }
    return String.join(": ", messages);
  }

  private static String seconds(long nanos) {
    return String.format(Locale.ROOT, "%.1f s", Math.max(0, nanos) / 1e9);
  }
}
