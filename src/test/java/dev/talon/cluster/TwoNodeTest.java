package dev.talon.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.talon.config.ConfigLoader;
import dev.talon.config.TalonConfig;
import dev.talon.conversation.ConversationEntity.Subscribed;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.conversation.ConversationEntity.TurnAccepted;
import dev.talon.conversation.FailoverRunner;
import dev.talon.conversation.TurnEvent;
import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Script;
import dev.talon.upstream.ModelRequest;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two nodes of one cluster on one journal: a conversation lives on one node, and the other
 * starts its turns and streams them — commands, replies and the StreamRef of live events cross
 * the wire, serialized as configured.
 */
class TwoNodeTest {

  /** {@code count} ports free now, each different: all are held open until all are found. */
  static int[] freePorts(int count) throws IOException {
    List<ServerSocket> sockets = new ArrayList<>();
    try {
      for (int i = 0; i < count; i++) {
        sockets.add(new ServerSocket(0));
      }
      return sockets.stream().mapToInt(ServerSocket::getLocalPort).toArray();
    } finally {
      for (ServerSocket socket : sockets) {
        socket.close();
      }
    }
  }

  /** A node of a cluster on {@code database}: nodes share their journal, so it is PostgreSQL. */
  static TalonConfig config(String upstream, int port, int seedPort, String database) {
    return ConfigLoader.parse("""
        { models: { mode: "replace", providers: {
            local: { baseUrl: "%s", api: "openai-completions", models: [{ id: "a", contextWindow: 4000000 }] } } },
          talon: { storage: { type: "postgres", url: "%s", user: "%s", password: "%s" },
                   cluster: { host: "127.0.0.1", port: %d, seedNodes: ["pekko://talon@127.0.0.1:%d"] } } }
        """.formatted(upstream, PostgresRuntimeTest.databaseUrl(database), PostgresRuntimeTest.USER,
        PostgresRuntimeTest.PASSWORD, port, seedPort), "two-nodes.json5", Map.<String, String>of()::get);
  }

  String database;

  @BeforeEach
  void createDatabase() throws Exception {
    String name = "talon_two_nodes_" + UUID.randomUUID().toString().replace("-", "");
    PostgresRuntimeTest.createDatabase(name);
    database = name;
  }

  @AfterEach
  void dropDatabase() throws Exception {
    if (database != null) {
      PostgresRuntimeTest.onServer("DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
    }
  }

  @Test
  void turnsOfConversationsOnTheOtherNodeStreamAcrossTheCluster(@TempDir Path dataDir) throws Exception {
    try (FakeUpstream fake = FakeUpstream.start()) {
      fake.setDefault(Script.reply("Answered from afar."));
      try (TwoNodes nodes = TwoNodes.start(fake.baseUrl(), dataDir, database)) {
        TalonRuntime a = nodes.a();
        TalonRuntime b = nodes.b();

        // A tool with a JSON schema makes the command carry a JSON tree across the wire.
        ModelRequest turn = new ModelRequest(null, List.of(new ModelRequest.Message(ModelRequest.Role.USER, "hi")),
            List.of(new ModelRequest.Tool("lookup", "Looks things up",
                new ObjectMapper().readTree("{\"type\":\"object\"}"), null)), null, null, null, null);
        Set<String> remote = new HashSet<>();
        for (int i = 0; i < 12; i++) {
          String session = "far-" + i;
          TurnAccepted accepted = assertInstanceOf(TurnAccepted.class, b.conversations()
              .startTurn(session, null, null, turn, null).toCompletableFuture().get(30, TimeUnit.SECONDS));
          List<TurnEvent> events = accepted.events().source().runWith(Sink.seq(), b.system())
              .toCompletableFuture().get(30, TimeUnit.SECONDS);
          TurnEvent.Completed done = assertInstanceOf(TurnEvent.Completed.class, events.get(events.size() - 1));
          assertEquals("Answered from afar.", done.result().text());

          // Read back through the node that did not start the turn.
          assertEquals("Answered from afar.", a.conversations().transcript(session).toCompletableFuture()
              .get(30, TimeUnit.SECONDS).turns().get(0).result().text());
          Subscribed replay = assertInstanceOf(Subscribed.class, a.conversations().subscribe(session, null, 0)
              .toCompletableFuture().get(30, TimeUnit.SECONDS));
          // A local actor's path has no address; a remote one names its node.
          if (accepted.events().toString().contains("pekko://talon@")) {
            remote.add(session);
          }
          assertEquals(events, replay.events().source().runWith(Sink.seq(), a.system())
              .toCompletableFuture().get(30, TimeUnit.SECONDS));
        }
        assertTrue(!remote.isEmpty() && remote.size() < 12,
            "conversations live on both nodes; on the first: " + remote);
      }
    }
  }

  /**
   * Pekko's remoting drops a message over its frame (256 KiB): a 1 MB input, its 1 MB answer and
   * the transcript holding both still cross, in pieces.
   */
  @Test
  void aMegabyteInputAndAMegabyteAnswerCrossNodes(@TempDir Path dataDir) throws Exception {
    String answer = String.join(" ", java.util.Collections.nCopies(10, "a".repeat(100_000)));
    String input = "q".repeat(1_000_000);
    try (FakeUpstream fake = FakeUpstream.start()) {
      fake.setDefault(Script.reply(answer));
      try (TwoNodes nodes = TwoNodes.start(fake.baseUrl(), dataDir, database)) {
        TalonRuntime a = nodes.a();
        TalonRuntime b = nodes.b();
        ModelRequest turn = new ModelRequest(null, List.of(new ModelRequest.Message(ModelRequest.Role.USER, input)),
            List.of(), null, null, null, null);
        boolean crossed = false;
        for (int i = 0; i < 6 && !crossed; i++) {
          String session = "large-" + i;
          TurnAccepted accepted = assertInstanceOf(TurnAccepted.class, b.conversations()
              .startTurn(session, null, null, turn, null).toCompletableFuture().get(30, TimeUnit.SECONDS));
          List<TurnEvent> events = accepted.events().source().runWith(Sink.seq(), b.system())
              .toCompletableFuture().get(30, TimeUnit.SECONDS);
          assertEquals(answer, assertInstanceOf(TurnEvent.Completed.class, events.get(events.size() - 1))
              .result().text());
          Turn held = b.conversations().transcript(session).toCompletableFuture().get(30, TimeUnit.SECONDS)
              .turns().get(0);
          assertEquals(answer, held.result().text());
          assertTrue(held.input().toString().contains(input), "the input came through whole");
          crossed = accepted.events().toString().contains("pekko://talon@");
        }
        assertTrue(crossed, "no conversation of six lived on the other node");
      }
    }
  }

  /** A node that forms the cluster and one that joins it, both up. */
  record TwoNodes(TalonRuntime a, TalonRuntime b) implements AutoCloseable {
    static TwoNodes start(String upstream, Path dataDir, String database) throws Exception {
      int[] ports = freePorts(2);
      TalonConfig seed = config(upstream, ports[0], ports[0], database);
      TalonConfig joiner = config(upstream, ports[1], ports[0], database);
      TalonRuntime a = TalonRuntime.start(seed, dataDir,
          (system, metrics) -> FailoverRunner.standard(system, seed.talon(), metrics));
      TwoNodes nodes = new TwoNodes(a, TalonRuntime.start(joiner, dataDir,
          (system, metrics) -> FailoverRunner.standard(system, joiner.talon(), metrics)));
      a.whenUp().toCompletableFuture().get(60, TimeUnit.SECONDS);
      nodes.b().whenUp().toCompletableFuture().get(60, TimeUnit.SECONDS);
      awaitMembers(nodes.b(), 2);
      return nodes;
    }

    @Override
    public void close() throws Exception {
      try (TalonRuntime first = a; TalonRuntime second = b) {
        // both stop, the joiner first
      }
    }
  }

  static void awaitMembers(TalonRuntime node, int count) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (java.util.stream.StreamSupport.stream(Cluster.get(node.system()).state().getMembers().spliterator(), false)
        .filter(member -> member.status().equals(org.apache.pekko.cluster.MemberStatus.up())).count() < count) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("the cluster did not reach " + count + " members");
      }
      Thread.sleep(20); // polling a condition, bounded by the deadline above
    }
  }
}
