package dev.talon.gateway;

import dev.talon.config.GatewaySettings;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.apache.pekko.Done;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.settings.ServerSettings;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.BidiShape;
import org.apache.pekko.stream.Inlet;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.TLSProtocol.SslTlsInbound;
import org.apache.pekko.stream.TLSProtocol.SslTlsOutbound;
import org.apache.pekko.stream.javadsl.BidiFlow;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.TLSPlacebo;
import org.apache.pekko.stream.javadsl.Tcp;
import org.apache.pekko.stream.stage.AbstractGraphStageWithMaterializedValue;
import org.apache.pekko.stream.stage.AbstractInHandler;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.AsyncCallback;
import org.apache.pekko.stream.stage.GraphStage;
import org.apache.pekko.stream.stage.GraphStageLogic;
import org.apache.pekko.util.ByteString;

/**
 * Talon's HTTP API on the configured address and port, and the connections it serves.
 *
 * <p>A stopping node closes its connections itself rather than through Pekko's own termination,
 * which ends a connection as soon as its handler has returned a response: the end of a streamed
 * answer could still be on its way to the client, and was cut. Here a connection is asked to
 * close once the response it is sending has been sent, and the node waits until it has.
 */
public final class GatewayServer {
  /** Plain text between Pekko HTTP's server layer, made for TLS too, and the socket. */
  @SuppressWarnings({"unchecked", "rawtypes"})
  private static final BidiFlow<SslTlsOutbound, ByteString, ByteString, SslTlsInbound, NotUsed> PLAIN_TEXT =
      (BidiFlow) TLSPlacebo.getInstance();
  private final Tcp.ServerBinding binding;
  private final Set<Connection> connections = ConcurrentHashMap.newKeySet();
  private volatile boolean closing;

  private GatewayServer(Tcp.ServerBinding binding) {
    this.binding = binding;
  }

  /**
   * Binds {@code routes}. Without an auth token the API is open to anyone who can reach it, so
   * binding to anything but loopback is refused.
   */
  public static CompletionStage<GatewayServer> bind(ActorSystem<?> system, GatewaySettings settings, Route routes) {
    if (settings.openBeyondLoopback()) { // the config loader refuses this too; settings made in code may not be
      throw new IllegalStateException("refusing to listen on " + settings.bind()
          + " without an auth token: set gateway.auth.token (or TALON_GATEWAY_TOKEN), or bind to loopback");
    }
    ServerSettings defaults = ServerSettings.create(system.classicSystem());
    // Pekko's own body limit covers every route: a larger body fails as it is read, even one
    // sent chunked without a length.
    ServerSettings server = defaults.withBacklog(settings.limits().backlog())
        .withParsingErrorHandler(ParseErrors.class.getName())
        .withParserSettings(defaults.getParserSettings().withMaxContentLength(settings.limits().maxBodyBytes()));
    Materializer materializer = Materializer.matFromSystem(system);
    Flow<HttpRequest, HttpResponse, NotUsed> handler =
        Flow.of(HttpRequest.class).mapAsync(server.getPipeliningLimit(), routes.handler(system));
    // Pekko HTTP's own layers over a TCP binding of our own: only the TCP stream shows when a
    // connection's last bytes have gone to its socket. Built once and run for each connection, as
    // Pekko's own binding does (which gives them no remote address either: no route reads it).
    BidiFlow<HttpResponse, ByteString, ByteString, HttpRequest, NotUsed> layers =
        Http.get(system).serverLayer(server, Optional.empty(), system.classicSystem().log()).atop(PLAIN_TEXT);
    CompletableFuture<GatewayServer> bound = new CompletableFuture<>();
    Tcp.get(system).bind(settings.bind(), settings.port(), server.getBacklog(), server.getSocketOptions(), false,
            server.getTimeouts().idleTimeout())
        .mapAsyncUnordered(server.getMaxConnections(), incoming -> bound.thenCompose(gateway -> gateway.serve(
            layers, incoming.flow(), handler, materializer)))
        .to(Sink.ignore())
        .run(materializer)
        .whenComplete((binding, failure) -> {
          if (failure != null) {
            bound.completeExceptionally(failure);
          } else {
            bound.complete(new GatewayServer(binding));
          }
        });
    return bound;
  }

  public InetSocketAddress localAddress() {
    return binding.localAddress();
  }

  /** Stops taking new connections; those open go on. */
  public CompletionStage<Done> unbind() {
    return binding.unbind().thenApply(unbound -> Done.getInstance());
  }

  /**
   * Closes every connection once the response it is sending has reached the client, and
   * completes when they are closed, or at {@code deadline}: those still open then are cut as the
   * node stops.
   */
  public CompletionStage<Done> closeConnections(Duration deadline) {
    closing = true;
    connections.forEach(Connection::close);
    CompletableFuture<?>[] open = connections.stream().map(c -> c.closed).toArray(CompletableFuture[]::new);
    return CompletableFuture.allOf(open)
        .thenApply(closed -> Done.getInstance())
        .completeOnTimeout(Done.getInstance(), deadline.toMillis(), TimeUnit.MILLISECONDS);
  }

  /** Serves one connection; completes when its socket has closed. */
  private CompletionStage<Done> serve(BidiFlow<HttpResponse, ByteString, ByteString, HttpRequest, NotUsed> http,
      Flow<ByteString, ByteString, NotUsed> socket, Flow<HttpRequest, HttpResponse, NotUsed> handler,
      Materializer materializer) {
    Connection connection = new Connection();
    connections.add(connection);
    CompletionStage<Done> closed = http.join(BidiFlow.fromGraph(new UntilClosed()).join(socket, Keep.left()),
            (none, socketClosed) -> socketClosed)
        .joinMat(BidiFlow.fromGraph(connection).join(handler), (ended, none) -> ended)
        .run(materializer);
    if (closing) {
      connection.close();
    }
    return closed.handle((done, failure) -> {
      connections.remove(connection);
      connection.closed.complete(Done.getInstance());
      return Done.getInstance(); // a connection's failure is its own: the others go on
    });
  }

  /**
   * Between the server and a socket: completes once the socket has closed, which it does after
   * sending every byte the server gave it. Once the server has written its last byte, whatever the
   * client still sends is read and dropped: the server reads no more, and the socket's close would
   * otherwise wait behind those bytes.
   */
  private static final class UntilClosed
      extends AbstractGraphStageWithMaterializedValue<BidiShape<ByteString, ByteString, ByteString, ByteString>, CompletionStage<Done>> {
    private final Inlet<ByteString> fromServer = Inlet.create("UntilClosed.fromServer");
    private final Outlet<ByteString> toSocket = Outlet.create("UntilClosed.toSocket");
    private final Inlet<ByteString> fromSocket = Inlet.create("UntilClosed.fromSocket");
    private final Outlet<ByteString> toServer = Outlet.create("UntilClosed.toServer");
    private final BidiShape<ByteString, ByteString, ByteString, ByteString> shape =
        BidiShape.of(fromServer, toSocket, fromSocket, toServer);

    @Override
    public BidiShape<ByteString, ByteString, ByteString, ByteString> shape() {
      return shape;
    }

    @Override
    public Pair<GraphStageLogic, CompletionStage<Done>> createLogicAndMaterializedValuePair(Attributes attributes) {
      CompletableFuture<Done> closed = new CompletableFuture<>();
      GraphStageLogic logic = new TwoWays<>(shape) {
        @Override
        void ended(Inlet<?> in) {
          if (in == fromServer) {
            complete(toServer);
            dropFrom(fromSocket, bytes -> {});
          }
        }

        @Override
        void cancelled(Outlet<?> out, Throwable cause) {
          if (out == toServer) {
            cancel(fromSocket, cause); // the server reads no more; it may still be writing
          } else {
            super.cancelled(out, cause);
          }
        }

        @Override
        public void postStop() {
          closed.complete(Done.getInstance());
        }
      };
      return Pair.create(logic, closed);
    }
  }

  /**
   * Between a connection and the routes: passes requests and responses through until asked to
   * close. Then it ends the routes' requests, so they finish the response under way and end
   * theirs, on which the server sends the rest of that response and closes the connection. A
   * request the client sends meanwhile is read and dropped: refusing to read it would fail the
   * connection, and the response under way with it.
   */
  private static final class Connection extends GraphStage<BidiShape<HttpRequest, HttpRequest, HttpResponse, HttpResponse>> {
    private final Inlet<HttpRequest> fromClient = Inlet.create("Connection.fromClient");
    private final Outlet<HttpRequest> toRoutes = Outlet.create("Connection.toRoutes");
    private final Inlet<HttpResponse> fromRoutes = Inlet.create("Connection.fromRoutes");
    private final Outlet<HttpResponse> toClient = Outlet.create("Connection.toClient");
    private final BidiShape<HttpRequest, HttpRequest, HttpResponse, HttpResponse> shape =
        BidiShape.of(fromClient, toRoutes, fromRoutes, toClient);
    final CompletableFuture<Done> closed = new CompletableFuture<>();
    private final CompletableFuture<AsyncCallback<Done>> closer = new CompletableFuture<>();

    void close() {
      closer.thenAccept(callback -> callback.invoke(Done.getInstance()));
    }

    @Override
    public BidiShape<HttpRequest, HttpRequest, HttpResponse, HttpResponse> shape() {
      return shape;
    }

    @Override
    public GraphStageLogic createLogic(Attributes attributes) {
      return new TwoWays<>(shape) {
        @Override
        public void preStart() {
          closer.complete(createAsyncCallback(done -> closing()));
        }

        private void closing() {
          complete(toRoutes);
          dropFrom(fromClient, request -> request.discardEntityBytes(materializer()));
        }
      };
    }
  }

  /**
   * Passes both directions through, each ending on its own: the end of what one side sends does
   * not end what the other side sends back.
   */
  private static class TwoWays<A, B> extends GraphStageLogic {
    TwoWays(BidiShape<A, A, B, B> shape) {
      super(shape);
      through(shape.in1(), shape.out1());
      through(shape.in2(), shape.out2());
    }

    private <T> void through(Inlet<T> in, Outlet<T> out) {
      setHandler(in, new AbstractInHandler() {
        @Override
        public void onPush() {
          push(out, grab(in));
        }

        @Override
        public void onUpstreamFinish() {
          complete(out);
          ended(in);
        }
      });
      setHandler(out, new AbstractOutHandler() {
        @Override
        public void onPull() {
          pull(in);
        }

        @Override
        public void onDownstreamFinish(Throwable cause) {
          cancelled(out, cause);
        }
      });
    }

    /** After {@code in} has ended, and its direction with it. */
    void ended(Inlet<?> in) {}

    /** {@code out}'s reader has cancelled: by default the whole stage stops. */
    void cancelled(Outlet<?> out, Throwable cause) {
      cancelStage(cause);
    }

    /** From now on reads {@code in} to its end, dropping what comes ({@code discard} frees it). */
    <T> void dropFrom(Inlet<T> in, Consumer<T> discard) {
      setHandler(in, new AbstractInHandler() {
        @Override
        public void onPush() {
          discard.accept(grab(in));
          pull(in);
        }
      });
      if (!isClosed(in) && !hasBeenPulled(in)) {
        pull(in);
      }
    }
  }
}
