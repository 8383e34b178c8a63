package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.typesafe.config.ConfigFactory;
import dev.talon.cluster.ClusterStatus;
import dev.talon.config.GatewaySettings;
import dev.talon.config.McpSettings;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.URI;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.Done;
import org.apache.pekko.stream.Materializer;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.http.javadsl.ServerBinding;
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
    ServerBinding binding = GatewayServer.bind(testKit.system(), GatewaySettings.loopback(0, null), new HealthRoutes().route())
        .toCompletableFuture().get(10, TimeUnit.SECONDS);
    try {
      HttpResponse<String> response = HttpClient.newHttpClient().send(
          HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + binding.localAddress().getPort() + "/health"))
              .timeout(Duration.ofSeconds(10)).build(),
          HttpResponse.BodyHandlers.ofString());
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
    ServerBinding binding = GatewayServer.bind(testKit.system(), GatewaySettings.loopback(0, "secret"), api.route())
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

  static int status(String url) throws Exception {
    return HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10))
        .build(), HttpResponse.BodyHandlers.ofString()).statusCode();
  }
}
