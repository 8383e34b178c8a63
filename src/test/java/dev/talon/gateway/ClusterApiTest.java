package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.testing.Script;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.cluster.sharding.typed.HashCodeMessageExtractor;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Leave;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code GET /cluster}, and a {@code /ready} that follows the node's membership. */
class ClusterApiTest extends OnANode {

  @Test
  void showsTheMembersTheLeaderAndWhereAConversationLives() throws Exception {
    api.fake.enqueue(Script.reply("noted"));
    String key = "cluster-status-1";
    assertEquals(200, api.post("/v1/responses", "{\"input\":\"hi\"}", TurnRequest.SESSION_HEADER, key).statusCode());

    HttpResponse<String> response = api.get("/cluster");
    assertEquals(200, response.statusCode(), response.body());
    JsonNode cluster = TalonApi.json(response);
    String self = Cluster.get(api.runtime.system()).selfMember().address().toString();
    assertTrue(self.startsWith("pekko://talon@127.0.0.1:"), self);
    assertEquals(self, cluster.path("self").asText());
    assertEquals("up", cluster.path("self_status").asText());
    assertEquals(self, cluster.path("leader").asText(), "a cluster of one leads itself");
    JsonNode member = cluster.path("members").path(0);
    assertEquals(1, cluster.path("members").size(), cluster.toString());
    assertEquals(self, member.path("address").asText());
    assertEquals("up", member.path("status").asText());
    assertTrue(member.path("reachable").asBoolean(), cluster.toString());
    assertTrue(member.path("roles").isArray(), cluster.toString());
    assertEquals(0, cluster.path("unreachable").size(), cluster.toString());

    // Typed sharding's default: the entity id's hash modulo the configured number of shards.
    String shard = new HashCodeMessageExtractor<>(api.runtime.system().settings().config()
        .getInt("pekko.cluster.sharding.number-of-shards")).shardId(key);
    assertEquals(List.of(self), names(cluster.path("shards")), cluster.toString());
    assertTrue(cluster.path("shards").path(self).path(shard).asInt() >= 1, "the conversation lives on this node, in shard "
        + shard + ": " + cluster);
    assertEquals(0, cluster.path("shard_failures").size(), cluster.toString());
  }

  @Test
  void needsTheGatewayTokenAsTheApiDoes() throws Exception {
    HttpRequest anonymous = HttpRequest.newBuilder(URI.create(api.baseUrl().replace("/v1", "/cluster")))
        .timeout(Duration.ofSeconds(30)).GET().build();
    HttpRequest wrongToken = api.request("/cluster").setHeader("Authorization", "Bearer wrong-token").GET().build();
    for (HttpRequest request : List.of(anonymous, wrongToken)) {
      HttpResponse<String> response = api.http.send(request, HttpResponse.BodyHandlers.ofString());
      assertEquals(401, response.statusCode(), response.body());
      assertEquals("invalid_api_key", TalonApi.json(response).path("error").path("code").asText());
    }
    assertEquals(405, api.post("/cluster", "{}").statusCode(), "only GET");
  }

  @Test
  void readyTurns503OnceTheNodeLeavesTheCluster(@TempDir Path leaving) throws Exception {
    TalonApi node = TalonApi.start(leaving);
    // Once the node is exiting, Pekko runs the coordinated shutdown, which would stop the HTTP
    // server with the node: its first phase is held until the node has been asked.
    CompletableFuture<Done> asked = new CompletableFuture<>();
    CoordinatedShutdown.get(node.runtime.system()).addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(),
        "test-hold-while-asked", () -> asked);
    try {
      Duration bound = Duration.ofSeconds(30);
      TestProbe<Void> probe = TestProbe.create(node.runtime.system());
      probe.awaitAssert(bound, () -> {
        assertEquals(200, node.get("/ready").statusCode(), "an up member");
        return null;
      });
      Cluster cluster = Cluster.get(node.runtime.system());
      cluster.manager().tell(Leave.create(cluster.selfMember().address()));
      probe.awaitAssert(bound, () -> {
        HttpResponse<String> ready = node.get("/ready");
        assertEquals(503, ready.statusCode(), ready.body());
        String status = TalonApi.json(node.get("/cluster")).path("self_status").asText();
        assertTrue(List.of("leaving", "exiting").contains(status), status);
        return null;
      });
    } finally {
      asked.complete(Done.getInstance());
      // the node stops itself once it has left; its end closes the HTTP server
      node.runtime.close();
      node.fake.close();
    }
  }

  private static List<String> names(JsonNode object) {
    List<String> names = new ArrayList<>();
    object.fieldNames().forEachRemaining(names::add);
    return names;
  }
}
