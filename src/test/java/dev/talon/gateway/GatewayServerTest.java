package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.talon.cluster.ClusterStatus;
import dev.talon.config.GatewaySettings;
import dev.talon.config.McpSettings;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.server.Directives;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.Done;
import org.apache.pekko.stream.Materializer;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class GatewayServerTest {
  /** A cluster node that has not joined a cluster yet: {@link #readyOnlyOnceStartedAndUntilDraining} joins it. */
  static final ActorTestKit testKit = ActorTestKit.create(ConfigFactory.parseString("""
      pekko.actor.provider = cluster
      pekko.remote.artery.canonical.hostname = "127.0.0.1"
      pekko.remote.artery.canonical.port = 0
      """));

  @AfterAll
  static void shutdown() {
    testKit.shutdownTestKit();
  }

  @Test
  void answersHealth() throws Exception {
    GatewayServer binding = GatewayServer.bind(testKit.system(), GatewaySettings.loopback(0, null), new HealthRoutes().route())
        .toCompletableFuture().get(10, TimeUnit.SECONDS);
    try {
      java.net.http.HttpResponse<String> response = HttpClient.newHttpClient().send(
          HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + binding.localAddress().getPort() + "/health"))
              .timeout(Duration.ofSeconds(10)).build(),
          java.net.http.HttpResponse.BodyHandlers.ofString());
      assertEquals(200, response.statusCode());
      assertEquals("{\"status\":\"ok\"}", response.body());
      assertTrue(response.headers().firstValue("content-type").orElse("").startsWith("application/json"));
    } finally {
      binding.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void refusesToListenBeyondLoopbackWithoutAToken() {
    IllegalStateException e = assertThrows(IllegalStateException.class,
        () -> GatewayServer.bind(testKit.system(), new GatewaySettings(0, "0.0.0.0", Optional.empty(), false, Duration.ofSeconds(1),
            GatewaySettings.Browsers.NONE, GatewaySettings.Limits.DEFAULTS, Optional.empty(), false), new HealthRoutes().route()));
    assertTrue(e.getMessage().contains("without an auth token"), e.getMessage());
  }

  @Test
  void readyOnlyOnceStartedAndUntilDraining() throws Exception {
    CompletableFuture<Done> started = new CompletableFuture<>();
    GatewaySettings settings = GatewaySettings.loopback(0, "secret");
    ApiRoutes api = new ApiRoutes(null, null, new ClusterStatus(testKit.system(), settings.limits().askTimeout()),
        settings, McpSettings.NONE, Materializer.matFromSystem(testKit.system()), started, new ResponseIds(new byte[32]),
        new PrometheusRegistry());
    GatewayServer binding = GatewayServer.bind(testKit.system(), GatewaySettings.loopback(0, "secret"), api.route())
        .toCompletableFuture().get(10, TimeUnit.SECONDS);
    try {
      String base = "http://127.0.0.1:" + binding.localAddress().getPort();
      assertEquals(503, status(base + "/ready"), "storage and sharding still starting");
      assertEquals(200, status(base + "/health"), "live while starting, and without a token");
      started.complete(Done.getInstance());
      assertEquals(503, status(base + "/ready"), "started, but not a member of a cluster yet");
      Cluster cluster = Cluster.get(testKit.system());
      cluster.manager().tell(Join.create(cluster.selfMember().address()));
      testKit.createTestProbe().awaitAssert(settings.limits().askTimeout(), () -> {
        assertEquals(200, status(base + "/ready"), "an up member");
        return null;
      });
      api.drain();
      assertEquals(503, status(base + "/ready"), "draining: no new work");
    } finally {
      binding.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  /**
   * A stopping node closes its connections: one sending a streamed response keeps going until
   * the response's last byte has gone, and an idle kept-alive one is closed at once, so the
   * closing ends long before its deadline.
   */
  @Test
  void closingConnectionsLetsTheResponseUnderWayFinishAndClosesIdleOnes() throws Exception {
    CompletableFuture<ByteString> last = new CompletableFuture<>();
    Route stream = Directives.path("stream", () -> Directives.complete(HttpResponse.create().withEntity(
        HttpEntities.createChunked(ContentTypes.TEXT_PLAIN_UTF8, Source.single(ByteString.fromString("first\n"))
            .concat(Source.completionStage(last))))));
    GatewayServer server = GatewayServer.bind(testKit.system(), GatewaySettings.loopback(0, null),
        Directives.concat(new HealthRoutes().route(), stream)).toCompletableFuture().get(10, TimeUnit.SECONDS);
    int port = server.localAddress().getPort();
    try (Socket idle = new Socket("127.0.0.1", port); Socket streaming = new Socket("127.0.0.1", port)) {
      idle.setSoTimeout(10_000);
      streaming.setSoTimeout(10_000);
      send(idle, "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
      assertTrue(readUntil(idle, "{\"status\":\"ok\"}").startsWith("HTTP/1.1 200"));
      send(streaming, "GET /stream HTTP/1.1\r\nHost: localhost\r\n\r\n");
      readUntil(streaming, "first\n");

      CompletableFuture<Done> closed = server.closeConnections(Duration.ofMinutes(1)).toCompletableFuture();
      assertEquals(-1, idle.getInputStream().read(), "the idle connection is closed");
      assertTrue(!closed.isDone(), "a response is still under way");
      last.complete(ByteString.fromString("last\n"));
      String rest = new String(streaming.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(rest.contains("last\n") && rest.endsWith("0\r\n\r\n"), "the response ends whole: " + rest);
      closed.get(10, TimeUnit.SECONDS);
    } finally {
      server.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  private static void send(Socket socket, String request) throws IOException {
    socket.getOutputStream().write(request.getBytes(StandardCharsets.US_ASCII));
    socket.getOutputStream().flush();
  }

  /** Reads {@code socket} until what it has read ends with {@code end}; all of it. */
  private static String readUntil(Socket socket, String end) throws IOException {
    StringBuilder read = new StringBuilder();
    InputStream in = socket.getInputStream();
    while (!read.toString().endsWith(end)) {
      int b = in.read();
      if (b < 0) {
        throw new IOException("closed before \"" + end + "\": " + read);
      }
      read.append((char) b);
    }
    return read.toString();
  }

  static int status(String url) throws Exception {
    return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10))
        .build(), java.net.http.HttpResponse.BodyHandlers.ofString()).statusCode();
  }
}
