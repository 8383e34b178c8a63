package dev.talon.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.talon.cluster.TalonRuntime;
import dev.talon.config.ConfigLoader;
import dev.talon.config.GatewaySettings;
import dev.talon.config.TalonConfig;
import dev.talon.conversation.ConversationEntity.Transcript;
import dev.talon.conversation.FailoverRunner;
import dev.talon.testing.FakeUpstream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.UnaryOperator;
import org.apache.pekko.stream.Materializer;

/**
 * A whole Talon node for API tests: the fake upstream, the runtime on an H2 file, and the API on
 * a loopback port. The default agent answers with {@code local/a} (Responses API), falling back
 * to {@code backup/b} (Chat Completions); {@code fast} is an alias of {@code local/a}; the agent
 * {@code main} is the default and {@code helper} has {@code backup/b} as its primary.
 */
final class TalonApi implements AutoCloseable {
  static final ObjectMapper JSON = new ObjectMapper();
  static final String TOKEN = "test-token-123";
  /** A credential in the local provider's {@code headers}: as secret as its API key. */
  static final String HEADER_SECRET = "hdr-local-secret-value";

  final FakeUpstream fake;
  final TalonRuntime runtime;
  final GatewayServer server;
  final ResponseIds ids;
  final HttpClient http = HttpClient.newHttpClient();

  private TalonApi(FakeUpstream fake, TalonRuntime runtime, GatewayServer server, ResponseIds ids) {
    this.fake = fake;
    this.runtime = runtime;
    this.server = server;
    this.ids = ids;
  }

  static TalonApi start(Path dataDir) throws Exception {
    return start(dataDir, TOKEN);
  }

  /** @param token the bearer token clients must send, or null for none (loopback only) */
  static TalonApi start(Path dataDir, String token) throws Exception {
    return start(dataDir, token, "", UnaryOperator.identity());
  }

  /**
   * @param talon more of the {@code talon} settings, e.g. {@code storage: {...},}
   * @param gateway changes to the gateway settings the test node runs with
   */
  static TalonApi start(Path dataDir, String token, String talon, UnaryOperator<GatewaySettings> gateway)
      throws Exception {
    return start(dataDir, token, talon, gateway, Clock.systemUTC());
  }

  /** @param clock what the retention sweep takes for now */
  static TalonApi start(Path dataDir, String token, String talon, Clock clock) throws Exception {
    return start(dataDir, token, talon, UnaryOperator.identity(), clock);
  }

  /**
   * @param config the node's config, with {@code %1$s} standing for the fake's base URL (and
   *     {@code %2$s}, {@code %3$s} as in {@link #DEFAULT_CONFIG}, which may be edited and given here)
   */
  static TalonApi start(Path dataDir, String token, String config) throws Exception {
    return start(dataDir, token, fakeUrl -> config.formatted(fakeUrl, "", HEADER_SECRET), UnaryOperator.identity(),
        Clock.systemUTC());
  }

  private static TalonApi start(Path dataDir, String token, String talon, UnaryOperator<GatewaySettings> gateway,
      Clock clock) throws Exception {
    return start(dataDir, token, fakeUrl -> DEFAULT_CONFIG.formatted(fakeUrl, talon, HEADER_SECRET), gateway, clock);
  }

  static final String DEFAULT_CONFIG = """
        { agents: { defaults: { model: { primary: "local/a", fallbacks: ["backup/b"] },
                                models: { "local/a": { alias: "fast" } } },
                    list: [{ id: "main", default: true }, { id: "helper", model: { primary: "backup/b" } }] },
          models: { mode: "replace", providers: {
            local: { baseUrl: "%1$s", apiKey: "sk-local-secret", api: "openai-responses", models: [{ id: "a" }],
                     headers: { "x-upstream-token": "%3$s" } },
            backup: { baseUrl: "%1$s", apiKey: "sk-backup-secret", api: "openai-completions", models: [{ id: "b" }] } } },
          talon: { %2$s failover: { retries: 1, backoffInitialMs: 10, backoffMaxMs: 20 } } }
        """;

  private static TalonApi start(Path dataDir, String token, Function<String, String> configFor,
      UnaryOperator<GatewaySettings> gateway, Clock clock) throws Exception {
    FakeUpstream fake = FakeUpstream.start();
    TalonConfig config = ConfigLoader.parse(configFor.apply(fake.baseUrl()), "api-test.json5",
        Map.<String, String>of()::get);
    TalonRuntime runtime = TalonRuntime.start(config, dataDir,
        (system, metrics) -> FailoverRunner.standard(system, config.talon(), metrics), clock);
    runtime.whenUp().toCompletableFuture().get(30, TimeUnit.SECONDS);
    // keep-alive comments every 300 ms, so a test sees them while a cold model is "loading"
    GatewaySettings loopback = GatewaySettings.loopback(0, token);
    GatewaySettings settings = gateway.apply(new GatewaySettings(0, loopback.bind(), loopback.authToken(), false,
        Duration.ofMillis(300), loopback.browsers(), loopback.limits(), Optional.empty(), false));
    ResponseIds ids = ResponseIds.forNode(settings, dataDir);
    ApiRoutes api = new ApiRoutes(config.catalog(), runtime.conversations(), runtime.cluster(), settings,
        config.talon().mcp(), Materializer.matFromSystem(runtime.system()), runtime.whenUp(), ids, runtime.metrics().registry());
    GatewayServer server = GatewayServer.bind(runtime.system(), settings, api.route())
        .toCompletableFuture().get(10, TimeUnit.SECONDS);
    return new TalonApi(fake, runtime, server, ids);
  }

  /** {@code http://127.0.0.1:<port>/v1}, what an OpenAI SDK takes as its base URL. */
  String baseUrl() {
    return "http://127.0.0.1:" + server.localAddress().getPort() + "/v1";
  }

  HttpRequest.Builder request(String path) {
    return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.localAddress().getPort() + path))
        .timeout(Duration.ofSeconds(30)).header("Authorization", "Bearer " + TOKEN);
  }

  HttpResponse<String> post(String path, String json, String... headers) throws Exception {
    HttpRequest.Builder builder = request(path).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(json));
    for (int i = 0; i < headers.length; i += 2) {
      builder.header(headers[i], headers[i + 1]);
    }
    return http.send(builder.build(), HttpResponse.BodyHandlers.ofString());
  }

  HttpResponse<String> get(String path) throws Exception {
    return http.send(request(path).GET().build(), HttpResponse.BodyHandlers.ofString());
  }

  /**
   * One request, its bytes as given, on a connection of its own; the whole response as text.
   * For what Java's client will not send: a foreign {@code Host}, raw bytes in a header.
   */
  String raw(String request) throws IOException {
    try (Socket socket = new Socket("127.0.0.1", server.localAddress().getPort())) {
      socket.setSoTimeout(30_000);
      OutputStream out = socket.getOutputStream();
      out.write(request.getBytes(StandardCharsets.UTF_8));
      out.flush();
      return new String(socket.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }
  }

  static JsonNode json(HttpResponse<String> response) throws Exception {
    return JSON.readTree(response.body());
  }

  Transcript transcript(String sessionKey) throws Exception {
    return runtime.conversations().transcript(sessionKey).toCompletableFuture().get(15, TimeUnit.SECONDS);
  }

  @Override
  public void close() throws Exception {
    server.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
    runtime.close();
    fake.close();
  }
}
