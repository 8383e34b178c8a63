package dev.talon.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Script;
import dev.talon.testing.TalonProcess;
import java.io.IOException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Talon as a cluster of real processes started by {@code bin/talon serve}, on the machine's
 * PostgreSQL: a node killed mid-stream loses no acknowledged turn and its conversations go on
 * elsewhere; a node stopped with SIGTERM lets its turns finish; with TLS only nodes holding the
 * keys join.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ClusterIT {
  static final Duration START = Duration.ofSeconds(120);
  static final Duration CALL = Duration.ofSeconds(60);
  static final ObjectMapper JSON = new ObjectMapper();
  static final String SECRET = "cluster-it-response-id-secret-0123456789abcdef";

  final HttpClient http = HttpClient.newHttpClient();
  final List<TalonProcess> running = new ArrayList<>();
  FakeUpstream fake;
  String database;
  @TempDir Path dir;

  @BeforeAll
  void startFake() {
    fake = FakeUpstream.start();
  }

  @AfterAll
  void stopFake() {
    fake.close();
  }

  @AfterEach
  void stopNodes() throws Exception {
    running.forEach(TalonProcess::close);
    running.clear();
    if (database != null) {
      PostgresRuntimeTest.onServer("DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
      database = null;
    }
  }

  @Test
  void aNodeKilledMidStreamLosesNoAcknowledgedTurnAndItsConversationsMoveOn() throws Exception {
    List<TalonProcess> nodes = cluster(3, "");
    List<String> sessions = IntStream.range(0, 24).mapToObj(i -> "kill-" + i).toList();
    Map<String, List<String>> acknowledged = new HashMap<>();
    // every conversation is started through every node, so each node has served every kind of turn
    for (int round = 0; round < 3; round++) {
      for (int i = 0; i < sessions.size(); i++) {
        String session = sessions.get(i);
        String question = "question " + round + " of " + session;
        fake.enqueue(Script.reply("answer " + round));
        Outcome outcome = stream(nodes.get((i + round) % 3), session, question).done().get(CALL.toSeconds(),
            TimeUnit.SECONDS);
        assertTrue(outcome.completed(), session + ": " + outcome);
        acknowledged.computeIfAbsent(session, s -> new ArrayList<>()).add(question);
      }
    }

    // a turn streaming in every conversation, through every node, when the third is killed
    fake.setDefault(Script.reply("a long answer that is still streaming when the node dies, token by token")
        .tokenDelay(Duration.ofMillis(150)));
    List<Turn> cut = new ArrayList<>();
    for (int i = 0; i < sessions.size(); i++) {
      cut.add(stream(nodes.get(i % 3), sessions.get(i), "cut question of " + sessions.get(i)));
    }
    CompletableFuture.allOf(cut.stream().map(Turn::firstDelta).toArray(CompletableFuture[]::new))
        .get(CALL.toSeconds(), TimeUnit.SECONDS);
    nodes.get(2).kill();
    List<TalonProcess> survivors = nodes.subList(0, 2);

    // every stream ends, on the survivors as on the dead node: none hangs
    for (Turn turn : cut) {
      Outcome outcome = turn.done().get(CALL.toSeconds(), TimeUnit.SECONDS);
      if (outcome.completed()) {
        acknowledged.get(turn.session()).add(turn.question());
      }
    }

    fake.setDefault(Script.reply("after the move"));
    int interrupted = 0;
    for (int i = 0; i < sessions.size(); i++) {
      String session = sessions.get(i);
      // reachable from both survivors, with the cut turn ended one way or another
      for (TalonProcess survivor : survivors) {
        JsonNode turns = turnsOnceMoved(survivor, session);
        assertEquals(4, turns.size(), session + ": " + turns);
        String status = turns.get(3).get("status").asText();
        assertTrue(List.of("completed", "failed", "interrupted").contains(status), session + ": " + turns);
        if (survivor == survivors.get(0) && status.equals("interrupted")) {
          interrupted++;
          Turn cutTurn = cut.get(i);
          // a client that reconnects elsewhere to the interrupted stream is told so at once
          List<String> replay = lines(survivors.get(1), "/v1/responses/" + cutTurn.responseId().join()
              + "?stream=true&starting_after=1");
          assertTrue(replay.contains("event: response.failed"), replay.toString());
          assertTrue(replay.toString().contains("stopped during"), replay.toString());
        }
      }
      Outcome next = stream(survivors.get(i % 2), session, "next question of " + session).done()
          .get(CALL.toSeconds(), TimeUnit.SECONDS);
      assertTrue(next.completed(), session + ": " + next);
      acknowledged.get(session).add("next question of " + session);
    }
    assertTrue(interrupted > 0, "no conversation lived on the killed node:\n" + nodes.get(2).logs());

    for (String session : sessions) {
      List<String> completed = completed(session);
      for (String question : completed) {
        assertEquals(1, completed.stream().filter(question::equals).count(), session + ": " + completed);
      }
      assertTrue(completed.containsAll(acknowledged.get(session)), session + ": " + completed);
    }
  }

  @Test
  void aNodeStoppedWithSigtermLetsItsRunningTurnsFinish() throws Exception {
    List<TalonProcess> nodes = cluster(3, "");
    List<String> sessions = IntStream.range(0, 12).mapToObj(i -> "leave-" + i).toList();
    String answer = "every word of this answer reaches its client although the node is leaving";
    fake.setDefault(Script.reply(answer).tokenDelay(Duration.ofMillis(100)));
    List<Turn> turns = new ArrayList<>();
    for (int i = 0; i < sessions.size(); i++) {
      turns.add(stream(nodes.get(i % 3), sessions.get(i), "question of " + sessions.get(i)));
    }
    CompletableFuture.allOf(turns.stream().map(Turn::firstDelta).toArray(CompletableFuture[]::new))
        .get(CALL.toSeconds(), TimeUnit.SECONDS);
    assertEquals(143, nodes.get(1).terminate(CALL), "the status of a stop by SIGTERM\n" + nodes.get(1).logs());
    assertFalse(nodes.get(1).logs().contains("threw an exception"), nodes.get(1).logs());
    for (Turn turn : turns) {
      Outcome outcome = turn.done().get(CALL.toSeconds(), TimeUnit.SECONDS);
      assertTrue(outcome.completed(), () -> turn.session() + ": " + outcome + logs());
      assertEquals(answer, outcome.text(), turn.session());
    }
    fake.setDefault(Script.reply("after the leave"));
    for (int i = 0; i < sessions.size(); i++) {
      TalonProcess survivor = nodes.get(i % 2 == 0 ? 0 : 2);
      assertTrue(stream(survivor, sessions.get(i), "again").done().get(CALL.toSeconds(), TimeUnit.SECONDS)
          .completed(), sessions.get(i));
      assertEquals(List.of("completed", "completed"), statuses(turns(survivor, sessions.get(i))));
    }
  }

  @Test
  void withTlsNodesHoldingTheKeysFormAClusterAndANodeWithoutThemCannotJoin() throws Exception {
    Path keys = Files.createDirectories(dir.resolve("keys"));
    Path keyStore = keys.resolve("node.p12");
    Path trustStore = keys.resolve("trust.p12");
    keytool("-genkeypair", "-alias", "talon", "-keyalg", "RSA", "-keysize", "2048", "-validity", "2",
        "-dname", "CN=talon-cluster", "-storetype", "PKCS12", "-keystore", keyStore, "-storepass", "changeit");
    Path certificate = keys.resolve("node.crt");
    keytool("-exportcert", "-alias", "talon", "-keystore", keyStore, "-storepass", "changeit", "-file", certificate);
    keytool("-importcert", "-noprompt", "-alias", "talon", "-file", certificate, "-storetype", "PKCS12",
        "-keystore", trustStore, "-storepass", "changeit");
    String tls = "tls: { keyStore: \"%s\", keyStorePassword: \"changeit\", trustStore: \"%s\", trustStorePassword: \"changeit\" },"
        .formatted(keyStore, trustStore);
    List<TalonProcess> nodes = cluster(2, tls);

    // a conversation started on one node is continued on the other: they are one cluster
    fake.setDefault(Script.reply("over TLS"));
    for (int i = 0; i < 6; i++) {
      assertTrue(stream(nodes.get(i % 2), "tls", "question " + i).done().get(CALL.toSeconds(), TimeUnit.SECONDS)
          .completed());
    }
    assertEquals(6, turns(nodes.get(1), "tls").size());

    int[] ports = TwoNodeTest.freePorts(1);
    TalonProcess stranger = TalonProcess.launchServe(nodeConfig("stranger", ports[0], seeds(clusterPorts), ""),
        dir.resolve("stranger-data"));
    running.add(stranger);
    awaitLog(stranger, "Couldn't join seed nodes");
    assertFalse(stranger.logs().contains("talon: listening"), stranger.logs());
  }

  // ---- the cluster ------------------------------------------------------------------------------

  int[] clusterPorts;

  /** {@code size} nodes on a fresh database, the first started alone (it forms the cluster), the others at once. */
  private List<TalonProcess> cluster(int size, String tls) throws Exception {
    database = "talon_cluster_" + UUID.randomUUID().toString().replace("-", "");
    PostgresRuntimeTest.createDatabase(database);
    clusterPorts = TwoNodeTest.freePorts(size);
    String seeds = seeds(clusterPorts);
    List<TalonProcess> nodes = new ArrayList<>();
    nodes.add(TalonProcess.serve(nodeConfig("node0", clusterPorts[0], seeds, tls), dir.resolve("data0"), START));
    running.add(nodes.get(0));
    List<CompletableFuture<TalonProcess>> others = new ArrayList<>();
    for (int i = 1; i < size; i++) {
      int node = i;
      others.add(CompletableFuture.supplyAsync(() -> {
        try {
          return TalonProcess.serve(nodeConfig("node" + node, clusterPorts[node], seeds, tls),
              dir.resolve("data" + node), START);
        } catch (IOException e) {
          throw new IllegalStateException(e);
        }
      }));
    }
    for (CompletableFuture<TalonProcess> other : others) {
      TalonProcess started = other.get(START.toSeconds(), TimeUnit.SECONDS);
      nodes.add(started);
      running.add(started);
    }
    for (TalonProcess node : nodes) {
      awaitReady(node);
    }
    return nodes;
  }

  private Path nodeConfig(String name, int clusterPort, String seeds, String tls) throws IOException {
    Path nodeDir = Files.createDirectories(dir.resolve(name));
    return Files.writeString(nodeDir.resolve("talon.json5"), """
        { agents: { defaults: { model: { primary: "local/a" } } },
          models: { mode: "replace", providers: {
            local: { baseUrl: "%s", apiKey: "none", api: "openai-responses", models: [{ id: "a" }] } } },
          gateway: { responseIdSecret: "%s", askTimeoutSeconds: 45 },
          talon: {
            storage: { type: "postgres", url: "%s", user: "%s", password: "%s" },
            cluster: { host: "127.0.0.1", port: %d, seedNodes: [%s], downAfterSeconds: 10, drainSeconds: 30, %s },
          } }
        """.formatted(fake.baseUrl(), SECRET, PostgresRuntimeTest.databaseUrl(database), PostgresRuntimeTest.USER,
        PostgresRuntimeTest.PASSWORD, clusterPort, seeds, tls));
  }

  private static String seeds(int[] ports) {
    return String.join(", ", IntStream.of(ports).mapToObj(port -> "\"127.0.0.1:" + port + "\"").toList());
  }

  private void awaitReady(TalonProcess node) throws Exception {
    long deadline = System.nanoTime() + START.toNanos();
    while (System.nanoTime() < deadline) {
      if (http.send(node.request("/ready").build(), HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
        return;
      }
      TimeUnit.MILLISECONDS.sleep(100); // polling interval, not an assertion
    }
    throw new AssertionError("not ready within " + START + "\n" + node.logs());
  }

  private static void awaitLog(TalonProcess node, String text) throws InterruptedException {
    long deadline = System.nanoTime() + START.toNanos();
    while (!node.logs().contains(text)) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("no \"" + text + "\" in " + START + "\n" + node.logs());
      }
      TimeUnit.MILLISECONDS.sleep(100); // polling interval, not an assertion
    }
  }

  private static void keytool(Object... arguments) throws Exception {
    List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "keytool")
        .toString()));
    Stream.of(arguments).map(String::valueOf).forEach(command::add);
    Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
    String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertEquals(0, process.waitFor(), output);
  }

  // ---- the journal ------------------------------------------------------------------------------

  /** The questions of the conversation's turns that the journal holds as completed, each as often as it does. */
  private List<String> completed(String session) throws Exception {
    Map<String, String> questionByTurn = new HashMap<>();
    List<String> completed = new ArrayList<>();
    try (Connection connection = DriverManager.getConnection(PostgresRuntimeTest.databaseUrl(database),
        PostgresRuntimeTest.USER, PostgresRuntimeTest.PASSWORD);
        Statement statement = connection.createStatement();
        ResultSet rows = statement.executeQuery("SELECT event_payload FROM event_journal WHERE persistence_id = "
            + "'Conversation|" + session + "' ORDER BY sequence_number")) {
      while (rows.next()) {
        JsonNode event = JSON.readTree(rows.getBytes(1));
        String turnId = event.path("turnId").asText();
        switch (event.path("type").asText()) {
          case "turn-started" -> assertFalse(questionByTurn.containsKey(turnId), "started twice: " + event);
          case "turn-completed" -> completed.add(questionByTurn.get(turnId));
          default -> { }
        }
        if (event.path("type").asText().equals("turn-started")) {
          questionByTurn.put(turnId, event.path("input").findValue("text").asText());
        }
      }
    }
    return completed;
  }

  // ---- a client -----------------------------------------------------------------------------------

  record Outcome(boolean completed, String text, String lastEvent) {}

  /** A streamed turn as its client sees it. */
  record Turn(String session, String question, CompletableFuture<String> responseId,
      CompletableFuture<Void> firstDelta, CompletableFuture<Outcome> done) {}

  private Turn stream(TalonProcess node, String session, String question) {
    Turn turn = new Turn(session, question, new CompletableFuture<>(), new CompletableFuture<>(),
        new CompletableFuture<>());
    String body = JSON.createObjectNode().put("model", "local/a").put("input", question).put("stream", true)
        .toString();
    HttpRequest request = node.request("/v1/responses").header("Content-Type", "application/json")
        .header("x-talon-session-key", session).POST(HttpRequest.BodyPublishers.ofString(body)).build();
    http.sendAsync(request, HttpResponse.BodyHandlers.ofLines()).thenAcceptAsync(response -> {
      StringBuilder text = new StringBuilder();
      String event = null;
      boolean completed = false;
      try (Stream<String> lines = response.body()) {
        for (Iterator<String> it = lines.iterator(); it.hasNext(); ) {
          String line = it.next();
          if (line.startsWith("event: ")) {
            event = line.substring("event: ".length());
          } else if (line.startsWith("data: ") && event != null) {
            JsonNode data = JSON.readTree(line.substring("data: ".length()));
            switch (event) {
              case "response.created" -> turn.responseId().complete(data.get("response").get("id").asText());
              case "response.output_text.delta" -> {
                text.append(data.get("delta").asText());
                turn.firstDelta().complete(null);
              }
              case "response.completed" -> completed = true;
              default -> { }
            }
          }
        }
      } catch (IOException | RuntimeException e) {
        event = event + " then " + e; // the node was killed under the stream
      }
      turn.firstDelta().completeExceptionally(new AssertionError(session + ": no delta, last event " + event));
      turn.done().complete(new Outcome(completed, text.toString(), event));
    }).exceptionally(e -> {
      turn.firstDelta().completeExceptionally(e);
      turn.done().complete(new Outcome(false, "", e.toString()));
      return null;
    });
    return turn;
  }

  private List<String> lines(TalonProcess node, String path) throws Exception {
    HttpResponse<Stream<String>> response = http.send(node.request(path).timeout(CALL).build(),
        HttpResponse.BodyHandlers.ofLines());
    try (Stream<String> lines = response.body()) {
      return lines.toList();
    }
  }

  /**
   * A conversation of the dead node answers "try again" (503) until the survivors have downed
   * that node and started the conversation again: {@code downAfterSeconds}, the same margin, and
   * its recovery. Then it must answer.
   */
  private JsonNode turnsOnceMoved(TalonProcess node, String session) throws Exception {
    long deadline = System.nanoTime() + START.toNanos();
    while (true) {
      HttpResponse<String> response = http.send(node.request("/v1/conversations/" + session).timeout(CALL).build(),
          HttpResponse.BodyHandlers.ofString());
      if (response.statusCode() != 503 || System.nanoTime() > deadline) {
        assertEquals(200, response.statusCode(), () -> session + ": " + response.body() + "\n" + logs());
        return JSON.readTree(response.body()).get("turns");
      }
    }
  }

  /** Every node's log, for a failure's message. */
  private String logs() {
    StringBuilder logs = new StringBuilder();
    for (TalonProcess node : running) {
      logs.append("\n==== node pid ").append(node.pid()).append('\n').append(node.logs());
    }
    return logs.toString();
  }

  private JsonNode turns(TalonProcess node, String session) throws Exception {
    HttpResponse<String> response = http.send(node.request("/v1/conversations/" + session).timeout(CALL).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, response.statusCode(), () -> session + ": " + response.body() + "\n" + logs());
    return JSON.readTree(response.body()).get("turns");
  }

  private static List<String> statuses(JsonNode turns) {
    List<String> statuses = new ArrayList<>();
    turns.forEach(turn -> statuses.add(turn.get("status").asText()));
    return statuses;
  }
}
