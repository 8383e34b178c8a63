package dev.talon.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigFactory;
import dev.talon.bench.GatewayBench.LoadClient;
import dev.talon.bench.GatewayBench.PathStats;
import dev.talon.bench.GatewayBench.RoundResult;
import dev.talon.bench.GatewayBench.StreamResult;
import dev.talon.bench.GatewayBench.Target;
import dev.talon.bench.ServeBench.Child;
import dev.talon.bench.ServeBench.Fake;
import dev.talon.bench.ServeBench.Reply;
import dev.talon.bench.ServeBench.Row;
import dev.talon.bench.ServeBench.Talon;
import dev.talon.bench.ServeBench.Throughput;
import dev.talon.cluster.PostgresRuntimeTest;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Stream;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.sharding.typed.HashCodeMessageExtractor;

/**
 * Talon as a cluster, every part its own process on 127.0.0.1: the fake upstream ({@link
 * FakeUpstreamMain}), three {@code bin/talon serve} nodes on one PostgreSQL journal (a fresh
 * database made for the run and dropped after it, on the server the tests use: {@code
 * TALON_TEST_PG_URL}, {@code _USER}, {@code _PASSWORD}, default {@code postgres@127.0.0.1:5432}),
 * and this JVM as the load client ({@link GatewayBench.LoadClient}). Node a starts alone (the
 * first start after a build records the class-data archive), then b and c join it, with a as
 * their seed. Every turn is session-keyed, so every turn is journaled.
 *
 * <p>Two comparisons, each measured in the same run:
 *
 * <ul>
 *   <li><b>where a conversation lives</b>: 2,000-token Chat streams, one at a time, all sent to
 *       node a, of conversations that live on a (local) and on b or c (remote): time to first
 *       token p50 and p99, and tokens/s after the first token (p50 of the streams). Each
 *       conversation's first turn places it and is not measured; its next {@code turns - 1} turns
 *       are, local and remote taking turns at going first. Where a conversation lives is read from
 *       {@code GET /cluster}'s shard map and the shard typed sharding gives an entity id by default
 *       ({@link HashCodeMessageExtractor} over {@code pekko.cluster.sharding.number-of-shards}, as
 *       the nodes read it); the run checks that every conversation's computed shard is on a node
 *       and holds at least as many conversations as the run put there, and reports any that moved
 *       while measured.
 *   <li><b>one node vs three</b>: journaled turns/s of {@code journalStreams} conversations at
 *       once, {@code turns} 20-token turns each, the clients spread over the nodes' gateways
 *       (client i talks to node i mod n). Three nodes first; then b and c stop as a user stops
 *       Talon (SIGTERM: they leave the cluster and hand their shards to a), and the same load runs
 *       on a alone.
 * </ul>
 *
 * <p>Usage: {@code bench/run ClusterBench [quick] [key=value ...]}, counts full / quick: {@code
 * samples} (100 / 40, measured streams per placement), {@code turns} (5 / 5), {@code journalTurns}
 * (1000 / 200, per leg), {@code journalStreams} (20 / 20). On two cores the full run takes about two
 * minutes, quick a bit over one, plus a build of the jar when the sources changed. The legs of the
 * second comparison run one after the other, so a change in the machine's other load between them
 * shows in their ratio: each prints the load average.
 */
public final class ClusterBench {
  private static final Map<String, Integer> FULL = Map.of("samples", 100, "turns", 5, "journalTurns", 1_000,
      "journalStreams", 20);
  private static final Map<String, Integer> QUICK = Map.of("samples", 40, "turns", 5, "journalTurns", 200,
      "journalStreams", 20);
  private static final List<String> NAMES = List.of("a", "b", "c");
  /** A stopping node drains (nothing runs), hands its shards over and leaves: seconds. */
  private static final Duration STOP_DEADLINE = Duration.ofSeconds(60);
  private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  private ClusterBench() {}

  public static void main(String[] args) {
    BenchMain.run(args, ClusterBench::run);
  }

  record Options(int samples, int turns, int journalTurns, int journalStreams) {
    static Options parse(String[] args) {
      Map<String, Integer> v = BenchMain.counts(args, FULL, QUICK);
      Options o = new Options(v.get("samples"), v.get("turns"), v.get("journalTurns"), v.get("journalStreams"));
      if (o.turns() < 2) {
        throw new IllegalArgumentException("turns must be 2 or more: a conversation's first turn is not measured");
      }
      return o;
    }
  }

  /** A {@code bin/talon serve} of the cluster: its gateway, and its address as {@code GET /cluster} names it. */
  record Node(String name, Talon talon, String address) {
    Target chat(Reply reply) {
      return ServeBench.Paths.viaTalon(talon.url(), reply);
    }

    JsonNode cluster() throws IOException, InterruptedException {
      HttpResponse<String> response = HTTP.send(HttpRequest.newBuilder(URI.create(talon.url() + "/cluster"))
          .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
      if (response.statusCode() != 200) {
        throw new IllegalStateException("GET /cluster on node " + name + ": " + response.statusCode() + " "
            + response.body());
      }
      return GatewayBench.JSON.readTree(response.body());
    }
  }

  static void run(String[] args) throws Exception {
    Options o = Options.parse(args);
    Path work = Files.createTempDirectory("talon-cluster-bench");
    String database = "talon_bench_" + UUID.randomUUID().toString().replace("-", "");
    PostgresRuntimeTest.onServer("CREATE DATABASE " + database);
    ActorSystem<Void> clientSystem = ActorSystem.create(Behaviors.empty(), "load-client");
    List<Row> rows = new ArrayList<>();
    List<Node> nodes = new ArrayList<>();
    try {
      System.out.printf("ClusterBench: fake upstream, %d Talon nodes (bin/talon serve, PostgreSQL journal) and this"
              + " load client as separate processes, %d cores, load average %s; %s%n", NAMES.size(),
          Runtime.getRuntime().availableProcessors(), ServeBench.loadAverage(), o);
      LoadClient client = new LoadClient(clientSystem, ServeBench.IDLE, ServeBench.STREAM_TIMEOUT);
      Fake fake = Fake.start(work);
      String storage = "{ type: \"postgres\", url: %s, user: %s, password: %s }".formatted(
          quoted(PostgresRuntimeTest.databaseUrl(database)), quoted(PostgresRuntimeTest.USER),
          quoted(PostgresRuntimeTest.PASSWORD));
      List<Integer> ports = new ArrayList<>();
      for (String ignored : NAMES) {
        ports.add(Talon.freePort());
      }
      // The first node alone: the first start after a build records the class-data archive.
      nodes.add(start(work, fake.url(), storage, NAMES.get(0), ports.get(0), ports.get(0)));
      System.out.printf("node a ready in %,.0f ms (a first start after a build records the class-data archive)%n",
          nodes.get(0).talon().readyMs());
      List<CompletableFuture<Node>> joining = new ArrayList<>();
      for (int i = 1; i < NAMES.size(); i++) {
        String name = NAMES.get(i);
        int port = ports.get(i);
        joining.add(CompletableFuture.supplyAsync(() -> {
          try {
            return start(work, fake.url(), storage, name, port, ports.get(0));
          } catch (Exception e) {
            throw new IllegalStateException("node " + name + " did not start", e);
          }
        }));
      }
      for (CompletableFuture<Node> node : joining) {
        nodes.add(node.get(ServeBench.START_DEADLINE.toSeconds(), TimeUnit.SECONDS));
      }
      Node entry = nodes.get(0);
      awaitMembers(entry, nodes.size());
      System.out.printf("nodes b and c joined; %d members up%n", nodes.size());
      for (Node node : nodes) { // each warms up once started; the rows measure warm nodes
        node.talon().awaitWarmedUp();
      }

      ServeBench.rows(rows, new Row("", "local", "remote", "remote vs local"));
      placement(client, nodes, o, rows);

      Throughput three = journal(client, nodes, o);
      long stopping = System.nanoTime();
      for (Node node : nodes.subList(1, nodes.size())) {
        node.talon().child().stop(STOP_DEADLINE);
      }
      awaitMembers(entry, 1);
      System.out.printf("nodes b and c stopped (SIGTERM) and left in %,.0f ms; node a alone%n",
          (System.nanoTime() - stopping) / 1e6);
      Throughput one = journal(client, List.of(entry), o);
      ServeBench.rows(rows, new Row("", "1 node", "3 nodes", "3 nodes vs 1"),
          ratio("journaled turns/s, " + o.journalStreams() + " conversations at once, " + o.turns() + " turns each",
              one.perSecond(), three.perSecond(), value -> String.format("%,.1f", value)),
          ServeBench.failures(one, three));

      System.out.printf("%n== ClusterBench (load average now %s) ==%n", ServeBench.loadAverage());
      rows.forEach(ServeBench::print);
      for (Node node : nodes) {
        System.out.print("node " + node.name() + ": ");
        ServeBench.talonLogProblems(node.talon());
      }
    } finally {
      try {
        ServeBench.stopClient(clientSystem);
      } finally {
        Child.killAll();
        PostgresRuntimeTest.onServer("DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
        GatewayBench.deleteQuietly(work);
      }
    }
  }

  /** {@code bin/talon serve} as a member of the cluster whose seed listens on {@code seedPort}. */
  static Node start(Path work, String fakeUrl, String storage, String name, int port, int seedPort)
      throws Exception {
    Path config = ServeBench.writeConfig(work.resolve(name + ".json5"), fakeUrl, """
        talon: { storage: %s, cluster: { host: "127.0.0.1", port: %d, seedNodes: [%s] } },"""
        .formatted(storage, port, quoted(address(seedPort))));
    return new Node(name, Talon.start(work, config, "data-" + name), address(port));
  }

  static String address(int port) {
    return "pekko://talon@127.0.0.1:" + port;
  }

  static String quoted(String text) throws IOException {
    return GatewayBench.JSON.writeValueAsString(text);
  }

  /** Polls node's {@code GET /cluster} until exactly {@code count} members, all up. */
  static void awaitMembers(Node node, int count) throws Exception {
    long deadline = System.nanoTime() + ServeBench.START_DEADLINE.toNanos();
    JsonNode view = node.cluster();
    while (view.path("members").size() != count || !allUp(view.path("members"))) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the cluster did not settle at " + count + " up members: " + view);
      }
      Thread.sleep(ServeBench.POLL.toMillis());
      view = node.cluster();
    }
  }

  private static boolean allUp(JsonNode members) {
    for (JsonNode member : members) {
      if (!member.path("status").asText().equals("up")) {
        return false;
      }
    }
    return true;
  }

  // ---- where a conversation lives -----------------------------------------------------------

  /**
   * Long streams through the first node, of conversations on that node and on the others, placed
   * by their first turn; then the rows.
   */
  static void placement(LoadClient client, List<Node> nodes, Options o, List<Row> rows) throws Exception {
    Node entry = nodes.get(0);
    Target target = entry.chat(ServeBench.LONG);
    Shards shards = new Shards(ConfigFactory.load().getInt("pekko.cluster.sharding.number-of-shards"));
    int perSide = (o.samples() + o.turns() - 2) / (o.turns() - 1); // conversations per placement, rounded up
    List<String> local = new ArrayList<>();
    List<String> remote = new ArrayList<>();
    Map<String, Integer> placedPerShard = new HashMap<>();
    for (int batch = 0; local.size() < perSide || remote.size() < perSide; batch++) {
      // A new conversation goes to the node with the fewest shards: about one in n lands on the entry node.
      List<String> keys = new ArrayList<>();
      for (int i = 0; i < nodes.size() * Math.max(perSide - local.size(), perSide - remote.size()); i++) {
        keys.add("placement-" + batch + "-" + i);
      }
      for (String key : keys) {
        // the first turn places the conversation, and warms the path up
        StreamResult first = stream(client, target, key).streams().get(0);
        if (first.error != null) {
          throw new IllegalStateException("the first turn of " + key + " failed: " + first.error);
        }
        placedPerShard.merge(shards.of(key), 1, Integer::sum);
      }
      Map<String, String> owners = shards.owners(entry.cluster(), placedPerShard);
      for (String key : keys) {
        List<String> side = owners.get(shards.of(key)).equals(entry.address()) ? local : remote;
        if (side.size() < perSide) {
          side.add(key);
        }
      }
    }
    Map<String, String> before = shards.owners(entry.cluster(), placedPerShard);
    PathStats localStats = new PathStats();
    PathStats remoteStats = new PathStats();
    for (int turn = 1; turn < o.turns(); turn++) {
      for (int i = 0; i < perSide; i++) {
        boolean localFirst = (turn + i) % 2 == 0; // neither placement always follows the other
        (localFirst ? localStats : remoteStats).add(stream(client, target, (localFirst ? local : remote).get(i)));
        (localFirst ? remoteStats : localStats).add(stream(client, target, (localFirst ? remote : local).get(i)));
      }
    }
    Map<String, String> after = shards.owners(entry.cluster(), placedPerShard);
    long moved = Stream.concat(local.stream(), remote.stream())
        .filter(key -> !before.get(shards.of(key)).equals(after.get(shards.of(key)))).count();
    System.out.printf("placement: %d conversations on node a, %d on b or c, %d turns each through a; every"
            + " conversation's shard (HashCodeMessageExtractor over %d shards) found on its node; %d moved while"
            + " measured%n", local.size(), remote.size(), o.turns(), shards.count(), moved);
    String stream = "2,000-token Chat stream through node a";
    ServeBench.rows(rows,
        ratio("TTFT p50, " + stream, localStats.ttftMs(50), remoteStats.ttftMs(50), ServeBench::ms),
        ratio("TTFT p99, " + stream, localStats.ttftMs(99), remoteStats.ttftMs(99), ServeBench::ms),
        ratio("tokens/s after the first (p50 of streams), " + stream, localStats.perStreamTps(),
            remoteStats.perStreamTps(), value -> String.format("%,.0f", value)),
        failed(localStats, remoteStats));
  }

  /** One turn on its own, as a round of one. */
  static RoundResult stream(LoadClient client, Target target, String key) throws Exception {
    StreamResult result = client.stream(target, key, ServeBench.LONG.text(), ServeBench.LONG.tokens())
        .get(ServeBench.STREAM_TIMEOUT.toSeconds() + 30, TimeUnit.SECONDS);
    return new RoundResult(List.of(result), result.end - result.sent, 1);
  }

  /** Typed sharding's default shard of an entity id, and where {@code GET /cluster} shows the shards. */
  record Shards(int count) {
    String of(String key) {
      return new HashCodeMessageExtractor<>(count).shardId(key);
    }

    /**
     * Shard id to the address of the node that holds it, checked against the conversations the run
     * placed: each one's computed shard must be on a node, holding at least as many conversations.
     */
    Map<String, String> owners(JsonNode cluster, Map<String, Integer> placedPerShard) {
      if (!cluster.path("shards").isObject()) {
        throw new IllegalStateException("GET /cluster has no shard map: " + cluster);
      }
      Map<String, String> owners = new HashMap<>();
      Map<String, Integer> entities = new HashMap<>();
      cluster.path("shards").fields().forEachRemaining(region -> region.getValue().fields().forEachRemaining(shard -> {
        owners.put(shard.getKey(), region.getKey());
        entities.put(shard.getKey(), shard.getValue().asInt());
      }));
      placedPerShard.forEach((shard, placed) -> {
        if (entities.getOrDefault(shard, 0) < placed) {
          throw new IllegalStateException("shard " + shard + " should hold at least " + placed + " of this run's"
              + " conversations (HashCodeMessageExtractor over " + count + " shards), but GET /cluster shows "
              + entities.get(shard) + ": " + cluster);
        }
      });
      return owners;
    }
  }

  // ---- one node vs three --------------------------------------------------------------------

  /** Session-keyed 20-token turns, every one journaled, the clients spread over {@code nodes}; after a warm-up. */
  static Throughput journal(LoadClient client, List<Node> nodes, Options o) throws Exception {
    List<Target> targets = nodes.stream().map(node -> node.chat(ServeBench.SHORT)).toList();
    String leg = "journal-" + nodes.size() + "-nodes";
    int streams = o.journalStreams();
    ServeBench.closedLoop(client, targets, ServeBench.SHORT, streams,
        Math.max(2 * streams, o.journalTurns() / ServeBench.WARM_UP_SHARE),
        ServeBench.conversations(leg + "-warm", o.turns()));
    Throughput measured = ServeBench.closedLoop(client, targets, ServeBench.SHORT, streams, o.journalTurns(),
        ServeBench.conversations(leg, o.turns()));
    System.out.printf("journaled turns/s, %d node%s: %,.1f (load average now %s)%n", nodes.size(),
        nodes.size() == 1 ? "" : "s", measured.perSecond(), ServeBench.loadAverage());
    return measured;
  }

  // ---- the table ----------------------------------------------------------------------------

  /** Both figures, and the second as a multiple of the first. */
  static Row ratio(String what, double first, double second, Function<Double, String> format) {
    return new Row(what, format.apply(first), format.apply(second), String.format("%.2fx", second / first));
  }

  /** A row under the last one when streams failed, with the first kind of failure, else null. */
  static Row failed(PathStats local, PathStats remote) {
    int localFailed = local.errors() + local.stalled;
    int remoteFailed = remote.errors() + remote.stalled;
    if (localFailed + remoteFailed == 0) {
      return null;
    }
    String kind = Stream.of(local, remote).flatMap(stats -> stats.failures.keySet().stream()).findFirst().orElse("");
    return new Row("  failed streams, e.g. " + kind, Integer.toString(localFailed), Integer.toString(remoteFailed), "");
  }
}
