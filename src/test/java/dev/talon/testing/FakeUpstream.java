package dev.talon.testing;

import static org.apache.pekko.http.javadsl.server.Directives.complete;
import static org.apache.pekko.http.javadsl.server.Directives.completeWithFuture;
import static org.apache.pekko.http.javadsl.server.Directives.concat;
import static org.apache.pekko.http.javadsl.server.Directives.entity;
import static org.apache.pekko.http.javadsl.server.Directives.extractRequest;
import static org.apache.pekko.http.javadsl.server.Directives.get;
import static org.apache.pekko.http.javadsl.server.Directives.path;
import static org.apache.pekko.http.javadsl.server.Directives.post;
import static org.apache.pekko.http.javadsl.server.PathMatchers.segment;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigFactory;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Queue;
import java.util.Set;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.function.Predicate;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.ClassicActorSystemProvider;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.settings.ServerSettings;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;
import org.apache.pekko.io.TcpSO;
import org.apache.pekko.stream.TLSProtocol.SslTlsInbound;
import org.apache.pekko.stream.TLSProtocol.SslTlsOutbound;
import org.apache.pekko.stream.javadsl.BidiFlow;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.TLSPlacebo;
import org.apache.pekko.stream.javadsl.Tcp;
import org.apache.pekko.util.ByteString;

/**
 * A fake OpenAI-compatible / Anthropic LLM server on a loopback ephemeral port, speaking the real
 * wire protocols with scripted content, timing and faults.
 *
 * <pre>{@code
 * try (FakeUpstream fake = FakeUpstream.start(system)) {
 *   fake.enqueue(Script.status(503, ErrorBodies.llamaCppLoading()).retryAfter(Duration.ofSeconds(1)),
 *                Script.reply("Hello, world").tokenDelay(Duration.ofMillis(5)));
 *   client.call(fake.baseUrl(), …);
 *   fake.awaitRequests(2, Duration.ofSeconds(5));
 * }
 * }</pre>
 *
 * Each generation request ({@code POST /v1/responses}, {@code /v1/chat/completions}, {@code
 * /v1/messages}) takes the next enqueued script, or the default one when none is left. Thread-safe.
 */
public final class FakeUpstream implements AutoCloseable {
  private static final Duration STARTUP = Duration.ofSeconds(10);

  private final ClassicActorSystemProvider system;
  private final ActorSystem<Void> ownSystem;
  private final Responder responder;
  private final Queue<Script> scripts = new ConcurrentLinkedQueue<>();
  private volatile Function<Request, Script> defaultScript = request -> Script.reply("Hello, world!");
  private volatile List<ServedModel> models = List.of(ServedModel.of("fake-model"));
  private volatile ServerKind modelsShape = ServerKind.OPENAI;
  private volatile int healthStatus = 200;
  private volatile JsonNode healthBody = Json.object().put("status", "ok");
  private final List<Request> requests = new ArrayList<>(); // guarded by itself
  private final List<Request> closed = new ArrayList<>(); // guarded by requests
  private final ConnectionGuard guard = new ConnectionGuard();
  private final AtomicInteger connectionsAccepted = new AtomicInteger();
  private final Tcp.ServerBinding binding;

  private FakeUpstream(ClassicActorSystemProvider system, ActorSystem<Void> ownSystem) {
    this.system = system;
    this.ownSystem = ownSystem;
    this.responder = new Responder(system);
    this.binding = await(bind(), STARTUP);
  }

  /**
   * Http's server layer on a plain Tcp binding, not {@code newServerAt(…).bind}, so that the {@link
   * ConnectionGuard} fits between socket and HTTP. No Nagle: a token frame must not wait for the
   * previous one's ACK. The script decides when headers go out and how long a stream idles, not
   * Pekko's timeouts.
   */
  private CompletionStage<Tcp.ServerBinding> bind() {
    ServerSettings settings =
        ServerSettings.create(
            ConfigFactory.parseString(
                    "pekko.http.server.request-timeout = infinite\n"
                        + "pekko.http.server.idle-timeout = infinite")
                .withFallback(system.classicSystem().settings().config()));
    BidiFlow<HttpResponse, ByteString, ByteString, HttpRequest, NotUsed> http =
        Http.get(system).serverLayer(settings).atop(plainText());
    Flow<HttpRequest, HttpResponse, NotUsed> handler = routes().flow(system);
    return Tcp.get(system)
        .bind("127.0.0.1", 0, 1024, List.of(TcpSO.tcpNoDelay(true)), false, Optional.empty())
        .to(
            Sink.foreach(
                connection -> {
                  connectionsAccepted.incrementAndGet();
                  connection.handleWith(handler.join(http.atop(guard.perConnection())), system);
                }))
        .run(system);
  }

  /**
   * TLSPlacebo's SessionBytes are SslTlsInbound; Java generics cannot see the variance Scala
   * declares.
   */
  @SuppressWarnings({"unchecked", "rawtypes"})
  private static BidiFlow<SslTlsOutbound, ByteString, ByteString, SslTlsInbound, NotUsed>
      plainText() {
    return (BidiFlow) TLSPlacebo.getInstance();
  }

  /** A fake with its own ActorSystem, terminated by {@link #close()}. */
  public static FakeUpstream start() {
    ActorSystem<Void> own = ActorSystem.create(Behaviors.empty(), "fake-upstream");
    try {
      return new FakeUpstream(own, own);
    } catch (RuntimeException e) {
      own.terminate();
      throw e;
    }
  }

  /** A fake on a shared ActorSystem (one per test class), which {@link #close()} leaves running. */
  public static FakeUpstream start(ClassicActorSystemProvider system) {
    return new FakeUpstream(system, null);
  }

  /** {@code http://127.0.0.1:<port>/v1}, what OpenAI clients take as base URL. */
  public String baseUrl() {
    return url("/v1");
  }

  /** {@code http://127.0.0.1:<port>} + path. */
  public String url(String path) {
    return "http://127.0.0.1:" + port() + path;
  }

  public int port() {
    return binding.localAddress().getPort();
  }

  public InetSocketAddress address() {
    return binding.localAddress();
  }

  // ---- scripts ----

  /** Scripts for the next generation requests, consumed in order. */
  public FakeUpstream enqueue(Script... next) {
    scripts.addAll(List.of(next));
    return this;
  }

  /** The script used once the queue is empty; initially a short plain reply. */
  public FakeUpstream setDefault(Script script) {
    return setDefault(request -> script);
  }

  /** Once the queue is empty, each request gets the script {@code choose} makes for it. */
  public FakeUpstream setDefault(Function<Request, Script> choose) {
    defaultScript = choose;
    return this;
  }

  // ---- what the fake lists ----

  /** The models listed, all loaded. */
  public FakeUpstream models(String... ids) {
    return models(List.of(ids).stream().map(ServedModel::of).toList());
  }

  public FakeUpstream models(List<ServedModel> served) {
    models = List.copyOf(served);
    return this;
  }

  /** Marks exactly these models loaded, the others not-loaded ({@code /api/v0/models}). */
  public FakeUpstream loaded(String... ids) {
    Set<String> loaded = Set.of(ids);
    models = models.stream().map(m -> m.loaded(loaded.contains(m.id()))).toList();
    return this;
  }

  /** Which server's {@code GET /v1/models} shape to imitate; OpenAI by default. */
  public FakeUpstream modelsShape(ServerKind server) {
    modelsShape = server;
    return this;
  }

  /** What {@code GET /health} answers; {@code 200 {"status":"ok"}} by default. */
  public FakeUpstream health(int status, JsonNode body) {
    healthStatus = status;
    healthBody = body;
    return this;
  }

  // ---- what the fake saw ----

  /** Every request received so far, in arrival order. */
  public List<Request> requests() {
    synchronized (requests) {
      return List.copyOf(requests);
    }
  }

  /** Waits until at least {@code count} requests arrived; returns all of them. */
  public List<Request> awaitRequests(int count, Duration timeout) {
    return awaitList(requests, list -> list.size() >= count, timeout, count + " requests");
  }

  /** TCP connections accepted so far. */
  public int connectionsAccepted() {
    return connectionsAccepted.get();
  }

  /** Requests whose response stream the client abandoned before it ended (cancel, close, reset). */
  public List<Request> closedConnections() {
    synchronized (requests) {
      return List.copyOf(closed);
    }
  }

  /** Waits until a client abandons a stream; returns that stream's request. */
  public Request awaitConnectionClosed(Duration timeout) {
    List<Request> all = awaitList(closed, list -> !list.isEmpty(), timeout, "a closed connection");
    return all.get(0);
  }

  @Override
  public void close() {
    await(binding.unbind(), STARTUP);
    guard.closeAll();
    if (ownSystem != null) {
      ownSystem.terminate();
      await(ownSystem.getWhenTerminated(), STARTUP);
    }
  }

  // ---- routes ----

  /** Every request is recorded first, whatever route (or none) answers it. */
  private Route routes() {
    return extractRequest(
        httpRequest ->
            entity(
                Unmarshaller.entityToString(),
                body -> {
                  Request request = record(httpRequest, body);
                  return concat(get(this::listings), post(() -> generation(request)));
                }));
  }

  private Route listings() {
    return concat(
        path(
            segment("v1").slash("models"),
            () -> complete(Responder.json(ServedModel.v1List(models, modelsShape)))),
        path(
            segment("api").slash("v0").slash("models"),
            () -> complete(Responder.json(ServedModel.lmStudioV0List(models)))),
        path(
            "health",
            () -> complete(Responder.statusCode(healthStatus), Responder.json(healthBody))));
  }

  private Route generation(Request request) {
    return concat(
        path(segment("v1").slash("responses"), () -> generate(request, ResponsesRenderer::new)),
        path(
            segment("v1").slash("chat").slash("completions"),
            () -> generate(request, ChatRenderer::new)),
        path(segment("v1").slash("messages"), () -> generate(request, AnthropicRenderer::new)));
  }

  private Route generate(Request request, BiFunction<Request, Script, Renderer> renderers) {
    Script polled = scripts.poll();
    Script script = polled != null ? polled : defaultScript.apply(request);
    Runnable onClientClose =
        () -> {
          synchronized (requests) {
            closed.add(request);
            requests.notifyAll();
          }
        };
    return completeWithFuture(
        responder.respond(script, request, renderers.apply(request, script), onClientClose));
  }

  private Request record(HttpRequest httpRequest, String body) {
    Map<String, String> headers = new HashMap<>();
    for (HttpHeader header : httpRequest.getHeaders()) {
      headers.putIfAbsent(header.lowercaseName(), header.value());
    }
    if (!body.isEmpty()) { // Pekko models Content-Type on the entity, not as a header
      headers.put("content-type", httpRequest.entity().getContentType().toString());
    }
    Request request =
        new Request(
            httpRequest.method().name(),
            httpRequest.getUri().path(),
            headers,
            Json.parseOrMissing(body),
            body,
            Instant.now());
    synchronized (requests) {
      requests.add(request);
      requests.notifyAll();
    }
    return request;
  }

  /** Blocks the calling test thread (never a Pekko thread) until {@code done} holds. */
  private List<Request> awaitList(
      List<Request> list, Predicate<List<Request>> done, Duration timeout, String what) {
    long deadline = System.nanoTime() + timeout.toNanos();
    synchronized (requests) {
      while (!done.test(list)) {
        long left = deadline - System.nanoTime();
        if (left <= 0) {
          throw new AssertionError(
              "timed out after "
                  + timeout
                  + " waiting for "
                  + what
                  + "; saw "
                  + requests.size()
                  + " requests");
        }
        try {
          TimeUnit.NANOSECONDS.timedWait(requests, left);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new AssertionError("interrupted waiting for " + what, e);
        }
      }
      return List.copyOf(list);
    }
  }

  private static <T> T await(CompletionStage<T> stage, Duration timeout) {
    try {
      return stage.toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    } catch (ExecutionException | TimeoutException e) {
      throw new IllegalStateException("fake upstream did not start or stop in time", e);
    }
  }
}
