package dev.talon.bench;

import dev.talon.cluster.JournalDatabase;
import dev.talon.cluster.TalonRuntime;
import dev.talon.config.ConfigLoader;
import dev.talon.config.Model;
import dev.talon.config.TalonConfig;
import dev.talon.config.TalonSettings;
import dev.talon.conversation.ConversationEntity.TurnAccepted;
import dev.talon.conversation.FailoverRunner;
import dev.talon.conversation.TurnEvent;
import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Script;
import dev.talon.upstream.HttpModelClient;
import dev.talon.upstream.ModelRequest;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.stream.javadsl.Sink;

/**
 * Conversations on one node (H2 journal) against the fake upstream, each number against a
 * baseline from the same run: turns/s for N conversations x M turns versus the same calls
 * straight to the fake; time to first token through Talon versus straight; heap per idle
 * conversation; recovery of a conversation with 1,000 turns after a restart.
 * Usage: bench/run ConversationBench [conversations] [turns] [idle]
 *
 * <p>{@code bench/run ConversationBench stores [conversations] [turns]} measures instead what
 * durable H2 commits cost: time to first token and turns/s on Talon's H2 URL against the same
 * database with H2's default 500 ms write delay (which loses acknowledged turns on SIGKILL),
 * both in this one run.
 */
public final class ConversationBench {
  public static void main(String[] args) {
    BenchMain.run(args, ConversationBench::run);
  }

  static void run(String[] args) throws Exception {
    if (args.length > 0 && args[0].equals("stores")) {
      compareStores(args.length > 1 ? Integer.parseInt(args[1]) : 50, args.length > 2 ? Integer.parseInt(args[2]) : 10);
      return;
    }
    int conversations = args.length > 0 ? Integer.parseInt(args[0]) : 50;
    int turns = args.length > 1 ? Integer.parseInt(args[1]) : 10;
    int idle = args.length > 2 ? Integer.parseInt(args[2]) : 1000;
    Path data = Files.createTempDirectory("talon-bench");
    try (FakeUpstream fake = FakeUpstream.start()) {
      fake.setDefault(Script.reply("A short streamed answer of a few tokens."));
      TalonConfig config = benchConfig(fake);
      Model model = config.catalog().resolve("fake/m");
      TalonRuntime first = start(config, data);
      final TalonRuntime runtime = first;
      HttpModelClient direct = new HttpModelClient(runtime.system(), config.talon().upstream());

      // Time to first token, one client: straight to the fake vs. a new turn through Talon.
      List<Double> directTtft = new ArrayList<>();
      List<Double> talonTtft = new ArrayList<>();
      for (int i = -20; i < 200; i++) {
        long start = System.nanoTime();
        direct.stream(model, say("hi")).filter(e -> e instanceof dev.talon.upstream.ModelEvent.TextDelta).take(1)
            .runWith(Sink.head(), runtime.system()).toCompletableFuture().get(10, TimeUnit.SECONDS);
        double d = (System.nanoTime() - start) / 1e6;
        start = System.nanoTime();
        firstText(runtime, "ttft-" + i).toCompletableFuture().get(10, TimeUnit.SECONDS);
        double t = (System.nanoTime() - start) / 1e6;
        if (i >= 0) {
          directTtft.add(d);
          talonTtft.add(t);
        }
      }
      System.out.printf("time to first token, one client (200 turns): direct p50 %.2f ms, Talon p50 %.2f ms,"
              + " added p50 %.2f ms; direct p99 %.2f ms, Talon p99 %.2f ms%n", pct(directTtft, 50), pct(talonTtft, 50),
          pct(talonTtft, 50) - pct(directTtft, 50), pct(directTtft, 99), pct(talonTtft, 99));

      // Throughput: N conversations, each M turns in sequence, all journaled; vs. the same calls straight.
      double directRate = rate(conversations, turns, session -> direct.stream(model, say("hi"))
          .runWith(Sink.ignore(), runtime.system()).thenApply(done -> null));
      double talonRate = rate(conversations, turns, session -> wholeTurn(runtime, session));
      System.out.printf("%d conversations x %d turns: direct %.0f calls/s, Talon %.0f turns/s (%.0f%% of direct),"
          + " every turn journaled%n", conversations, turns, directRate, talonRate, 100 * talonRate / directRate);

      // Heap per idle conversation: one turn each, then idle in memory (passivation after 2 min).
      long before = usedHeapAfterGc();
      List<CompletableFuture<Object>> all = new ArrayList<>();
      for (int i = 0; i < idle; i++) {
        all.add(wholeTurn(runtime, "idle-" + i).toCompletableFuture());
      }
      CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).get(300, TimeUnit.SECONDS);
      long after = usedHeapAfterGc();
      System.out.printf("heap per idle conversation (%d conversations of one turn): %.1f KB%n", idle,
          (after - before) / 1024.0 / idle);

      // Recovery: conversations of 1,000 turns, read by a fresh node. The first pays for the new
      // node's cold snapshot deserializers; the second shows the steady cost.
      for (int i = 0; i < 1000; i++) {
        wholeTurn(runtime, "long-1").toCompletableFuture().get(30, TimeUnit.SECONDS);
        wholeTurn(runtime, "long-2").toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
      first.close();
      closeH2(JournalDatabase.defaultH2Url(data));
      TalonRuntime fresh = start(config, data);
      fresh.conversations().transcript("warm-up-shard").toCompletableFuture().get(30, TimeUnit.SECONDS);
      for (String session : List.of("long-1", "long-2")) {
        long start = System.nanoTime();
        int recovered = fresh.conversations().transcript(session).toCompletableFuture().get(30, TimeUnit.SECONDS)
            .turns().size();
        System.out.printf("recovery of a conversation with %d turns on a fresh node, %s: %.1f ms%n", recovered,
            session.equals("long-1") ? "first (cold)" : "second", (System.nanoTime() - start) / 1e6);
      }
      fresh.close();
    }
  }

  record Store(String name, TalonConfig config, Path data) {}

  static void compareStores(int conversations, int turns) throws Exception {
    try (FakeUpstream fake = FakeUpstream.start()) {
      fake.setDefault(Script.reply("A short streamed answer of a few tokens."));
      TalonConfig config = benchConfig(fake);
      Path delayed = Files.createTempDirectory("talon-bench-delayed");
      Path durable = Files.createTempDirectory("talon-bench-durable");
      List<Store> stores = List.of(
          new Store("H2 with its 500 ms write delay (before)", withStorage(config,
              "jdbc:h2:file:" + delayed.resolve("talon") + ";DB_CLOSE_DELAY=-1;WRITE_DELAY=500"), delayed),
          new Store("H2 on Talon's URL (" + JournalDatabase.defaultH2Url(durable).replaceAll(".*CLOSE_DELAY=-1;", "")
              + ")", config, durable));
      // Rounds alternate, so that neither store gets all of the machine's quiet or busy moments;
      // the first warms the JVM up.
      for (int round = 0; round <= 2; round++) {
        for (Store store : stores) {
          TalonRuntime runtime = start(store.config(), store.data());
          List<Double> ttft = new ArrayList<>();
          for (int i = -20; i < 100; i++) {
            long start = System.nanoTime();
            firstText(runtime, "ttft-" + round + "-" + i).toCompletableFuture().get(10, TimeUnit.SECONDS);
            if (i >= 0) {
              ttft.add((System.nanoTime() - start) / 1e6);
            }
          }
          double rate = rate(conversations, turns, session -> wholeTurn(runtime, session));
          System.out.printf("%s, %s: first token p50 %.2f ms, p99 %.2f ms; %d conversations x %d turns:"
              + " %.0f turns/s%n", round == 0 ? "warm-up" : "round " + round, store.name(), pct(ttft, 50), pct(ttft, 99), conversations, turns, rate);
          runtime.close();
          closeH2(JournalDatabase.of(store.config().talon().storage(), store.data()).url());
        }
      }
    }
  }

  static TalonConfig benchConfig(FakeUpstream fake) {
    return ConfigLoader.parse("{ models: { mode: 'replace', providers: { fake: { baseUrl: '"
        + fake.baseUrl() + "', api: 'openai-completions', models: [{ id: 'm' }] } } } }", "bench",
        Map.<String, String>of()::get);
  }

  /** {@code config} on the H2 database at {@code url}, which the config loader would refuse. */
  static TalonConfig withStorage(TalonConfig config, String url) {
    TalonSettings t = config.talon();
    return new TalonConfig(config.source(), config.catalog(), config.gateway(), new TalonSettings(t.dataDir(),
        new TalonSettings.Storage(TalonSettings.Storage.Type.H2, url, null, null), t.cluster(), t.upstream(),
        t.failover(), t.conversations(), t.retention(), t.mcp(), t.warmup()), config.notices());
  }

  static TalonRuntime start(TalonConfig config, Path data) throws Exception {
    return start(config, data, (system, metrics) -> FailoverRunner.standard(system, config.talon(), metrics));
  }

  /** A node on {@code data} whose turns run on what {@code runners} makes of its actor system; once it is up. */
  static TalonRuntime start(TalonConfig config, Path data, TalonRuntime.Runners runners)
      throws Exception {
    TalonRuntime runtime = TalonRuntime.start(config, data, runners);
    runtime.whenUp().toCompletableFuture().get(60, TimeUnit.SECONDS);
    return runtime;
  }

  static void closeH2(String url) throws Exception {
    try (Connection connection = DriverManager.getConnection(url, "sa", "")) {
      connection.createStatement().execute("SHUTDOWN");
    }
  }

  static ModelRequest say(String text) {
    return ModelRequest.of(null, List.of(new ModelRequest.Message(ModelRequest.Role.USER, text)));
  }

  static CompletionStage<TurnEvent> firstText(TalonRuntime runtime, String session) {
    return runtime.conversations().startTurn(session, null, null, say("hi"), null).thenCompose(reply ->
        ((TurnAccepted) reply).events().source().filter(e -> e instanceof TurnEvent.TextDelta).take(1)
            .runWith(Sink.head(), runtime.system()));
  }

  static CompletionStage<Object> wholeTurn(TalonRuntime runtime, String session) {
    return runtime.conversations().startTurn(session, null, null, say("hi"), null).thenCompose(reply ->
        ((TurnAccepted) reply).events().source().runWith(Sink.last(), runtime.system())).thenApply(last -> last);
  }

  interface Turn {
    CompletionStage<Object> run(String session);
  }

  /** N sessions run concurrently, each M turns one after the other. */
  static double rate(int sessions, int turns, Turn turn) throws Exception {
    long start = System.nanoTime();
    List<CompletableFuture<Object>> running = new ArrayList<>();
    for (int s = 0; s < sessions; s++) {
      String session = "rate-" + System.nanoTime() + "-" + s;
      CompletionStage<Object> chain = CompletableFuture.completedFuture(null);
      for (int t = 0; t < turns; t++) {
        chain = chain.thenCompose(ignored -> turn.run(session));
      }
      running.add(chain.toCompletableFuture());
    }
    CompletableFuture.allOf(running.toArray(CompletableFuture[]::new)).get(600, TimeUnit.SECONDS);
    return sessions * turns / ((System.nanoTime() - start) / 1e9);
  }

  static long usedHeapAfterGc() throws InterruptedException {
    for (int i = 0; i < 3; i++) {
      System.gc();
      Thread.sleep(200); // let the collector finish; this is a measurement, not a test
    }
    var heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage();
    return heap.getUsed();
  }

  static double pct(List<Double> values, int percentile) {
    List<Double> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    return sorted.get(Math.min(sorted.size() - 1, sorted.size() * percentile / 100));
  }
}
