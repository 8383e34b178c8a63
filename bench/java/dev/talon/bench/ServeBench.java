package dev.talon.bench;

import dev.talon.bench.GatewayBench.Api;
import dev.talon.bench.GatewayBench.Comparison;
import dev.talon.bench.GatewayBench.LoadClient;
import dev.talon.bench.GatewayBench.StreamResult;
import dev.talon.bench.GatewayBench.Target;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Collectors;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.http.javadsl.Http;

/**
 * Talon as users run it: three processes on 127.0.0.1, the fake upstream ({@link
 * FakeUpstreamMain}, its own JVM), Talon ({@code bin/talon serve} on a generated config, provider
 * api {@code openai-completions}, an empty data directory) and this JVM as the load client ({@link
 * GatewayBench.LoadClient}: Pekko HTTP, every SSE line parsed, TTFT = request sent -> first
 * non-empty content delta, every reply checked whole). Requests name no conversation (each starts
 * one, as a stateless OpenAI client's does) unless a row says otherwise.
 *
 * <p>Each row is measured straight to the fake (direct) and through Talon in the same run, after a
 * warm-up of both; the last column gives Talon against direct. The direct rates are also the
 * ceiling of this load client and the fake together, far above Talon's: the client is not what
 * limits Talon. Talon's CPU comes from {@code /proc/<pid>/stat} (utime + stime, in clock ticks of
 * usually 10 ms) around a phase that only Talon serves, and the direct column of those rows is the
 * fake's own CPU for the same phase direct; RSS from {@code /proc/<pid>/status}; heap per
 * conversation from {@code jcmd GC.class_histogram} (live objects after a full GC) before and
 * after creating them. Start-to-ready is the second {@code bin/talon serve} of the run (the first
 * builds the jar and its class-data archive when they are missing, as a user's first start does);
 * the first request after ready is the only cold one, compared with the same request straight to
 * the fake, which was warmed (with this client) before Talon started.
 *
 * <p>Usage: {@code bench/run ServeBench [quick] [key=value ...]}; {@code quick} (about a minute)
 * scales every count down, keys override single counts (full / quick): {@code samples} (300 / 50,
 * TTFT samples at one stream), {@code bursts} (20 / 3, rounds of 100 streams at once), {@code
 * requests} (4000 / 300, requests per path in each req/s row), {@code longStreams} (10 / 2,
 * 2,000-token streams per path and API), {@code conversations} (1000 / 100, created for the heap
 * row), {@code turns} (5 / 5, turns per conversation in the heap and journal rows), {@code
 * journalTurns} (4000 / 300, turns per path in the journal row), {@code journalStreams} (20 / 20,
 * concurrent conversations in the journal and heap rows). Talon's JVM takes {@code JAVA_OPTS}, as
 * {@code bin/talon} does. E.g. {@code bench/run ServeBench quick requests=500}.
 */
public final class ServeBench {
  static final Duration IDLE = Duration.ofSeconds(20);
  static final Duration STREAM_TIMEOUT = Duration.ofSeconds(120);
  private static final Duration LOOP_DEADLINE = Duration.ofMinutes(10);
  /** A first start may build the jar (Maven) and record the class-data archive. */
  static final Duration START_DEADLINE = Duration.ofMinutes(10);
  private static final Duration KILL_DEADLINE = Duration.ofSeconds(30);
  private static final Duration JCMD_DEADLINE = Duration.ofSeconds(60);
  static final Duration POLL = Duration.ofMillis(10);
  private static final Duration RSS_POLL = Duration.ofMillis(20);

  static final Reply SHORT = new Reply(20, 0);
  static final Reply LONG = new Reply(2_000, 0);
  /** The first request after ready: paced, so that the tokens arrive as a model's would. */
  private static final Reply PACED = new Reply(5, 20);
  /**
   * A keyless request starts a conversation of its own; turns that continue one show what that
   * start adds to the first token.
   */
  private static final int CONTINUED_TURNS = 20;
  private static final int BURST_STREAMS = 100;
  private static final List<Integer> THROUGHPUT_STREAMS = List.of(10, 50);
  private static final int CPU_STREAMS = 50;
  /** JIT needs a few dozen requests per path before one stream's TTFT settles. */
  private static final int WARM_UP_ONE = 30;
  private static final int WARM_UP_LONG = 3;
  /** A closed loop's warm-up: this share of the measured requests. */
  static final int WARM_UP_SHARE = 4;
  private static final String PROVIDER = "fake";
  private static final long CLOCK_TICKS = clockTicks();

  private ServeBench() {}

  public static void main(String[] args) {
    BenchMain.run(args, ServeBench::run);
  }

  record Options(int samples, int bursts, int requests, int longStreams, int conversations, int turns,
      int journalTurns, int journalStreams) {
    private static final Map<String, Integer> FULL = Map.of("samples", 300, "bursts", 20, "requests", 4_000,
        "longStreams", 10, "conversations", 1_000, "turns", 5, "journalTurns", 4_000, "journalStreams", 20);
    private static final Map<String, Integer> QUICK = Map.of("samples", 50, "bursts", 3, "requests", 300,
        "longStreams", 2, "conversations", 100, "turns", 5, "journalTurns", 300, "journalStreams", 20);

    static Options parse(String[] args) {
      Map<String, Integer> v = BenchMain.counts(args, FULL, QUICK);
      return new Options(v.get("samples"), v.get("bursts"), v.get("requests"), v.get("longStreams"),
          v.get("conversations"), v.get("turns"), v.get("journalTurns"), v.get("journalStreams"));
    }
  }

  /** A reply the fake makes for a model name: {@code tokens} tokens, {@code delayMs} apart. */
  record Reply(int tokens, int delayMs) {
    String model() {
      return FakeUpstreamMain.model(tokens, delayMs);
    }

    String text() {
      return GatewayBench.longReply(tokens);
    }
  }

  /** The same request straight to the fake and through Talon. */
  record Paths(Target direct, Target talon) {
    static Paths chat(String fake, String talon, Reply reply) {
      return new Paths(direct(fake, reply), viaTalon(talon, reply));
    }

    static Target direct(String fake, Reply reply) {
      return new Target("direct", Api.CHAT, fake + "/v1/chat/completions", chatBody(reply.model()), 0);
    }

    static Target viaTalon(String talon, Reply reply) {
      return new Target("Talon", Api.CHAT, talon + "/v1/chat/completions", chatBody(PROVIDER + "/" + reply.model()), 0);
    }

    static Paths responses(String fake, String talon, Reply reply) {
      return new Paths(
          new Target("direct", Api.RESPONSES, fake + "/v1/responses", GatewayBench.responsesBody(reply.model()), 0),
          new Target("Talon", Api.RESPONSES, talon + "/v1/responses",
              GatewayBench.responsesBody(PROVIDER + "/" + reply.model()), 0));
    }
  }

  static String chatBody(String model) {
    return "{\"model\":\"" + model + "\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  }

  record Row(String what, String direct, String talon, String vsDirect) {}

  private static final Row HEADER = new Row("", "direct", "Talon", "Talon vs direct");

  // ---- the run ------------------------------------------------------------------------------

  static void run(String[] args) throws Exception {
    Options o = Options.parse(args);
    Path work = Files.createTempDirectory("talon-serve-bench");
    ActorSystem<Void> clientSystem = ActorSystem.create(Behaviors.empty(), "load-client");
    List<Row> rows = new ArrayList<>();
    try {
      System.out.printf("ServeBench: fake upstream, Talon (bin/talon serve) and this load client as three processes,"
          + " %d cores, load average %s; %s%n", Runtime.getRuntime().availableProcessors(), loadAverage(), o);
      LoadClient client = new LoadClient(clientSystem, IDLE, STREAM_TIMEOUT);
      print(HEADER);
      Fake fake = Fake.start(work);
      String fakeUrl = fake.url();

      // Only Talon starts cold in the first-request row: this client and the fake are warmed first, as
      // a user's client and model server would be.
      Target pacedDirect = Paths.direct(fakeUrl, PACED);
      for (int i = 0; i < WARM_UP_ONE; i++) {
        first(client, pacedDirect);
      }
      Path config = writeConfig(work.resolve("talon.json5"), fakeUrl, "");
      Talon prepared = Talon.start(work, config, "data-first");
      prepared.child().kill();
      System.out.printf("first start to ready %.0f ms (builds the jar and class-data archive when missing)%n",
          prepared.readyMs());
      Talon talon = Talon.start(work, config, "data");
      Child t = talon.child();
      rows(rows, new Row("start to ready, bin/talon serve", "", ms(talon.readyMs()), ""));
      double talonFirst = ttftMs(first(client, Paths.viaTalon(talon.url(), PACED)));
      rows(rows, added("first request's TTFT after ready (5 tokens, 20 ms apart)", ttftMs(first(client,
          pacedDirect)), talonFirst));
      long idleKb = t.rssKb();
      // Talon warms up once started, giving way to clients' turns; the rows measure a warm node, as
      // the first requests after that moment find it (the first-request row above does not wait).
      System.out.printf("warm-up over %.0f ms after ready%n", talon.awaitWarmedUp());

      Paths shortChat = Paths.chat(fakeUrl, talon.url(), SHORT);
      try (RssPoller rss = new RssPoller(t)) {
        heapPerConversation(client, shortChat.talon(), t, o, rows);

        Comparison one = GatewayBench.compare(client, shortChat.direct(), shortChat.talon(), 1, o.samples(),
            WARM_UP_ONE, SHORT.text(), SHORT.tokens());
        rows(rows, added("TTFT p50, 1 stream, 20-token Chat", one.direct().ttftMs(50), one.talon().ttftMs(50)),
            failures(one));
        Target continuing = new Target("Talon", Api.CHAT, shortChat.talon().url(), shortChat.talon().body(),
            CONTINUED_TURNS);
        Comparison kept = GatewayBench.compare(client, shortChat.direct(), continuing, 1, o.samples(), WARM_UP_ONE,
            SHORT.text(), SHORT.tokens());
        rows(rows, added("  the same, each conversation continued for " + CONTINUED_TURNS + " turns (session key)",
            kept.direct().ttftMs(50), kept.talon().ttftMs(50)), failures(kept));
        Comparison burst = GatewayBench.compare(client, shortChat.direct(), shortChat.talon(), BURST_STREAMS,
            o.bursts(), 1, SHORT.text(), SHORT.tokens());
        rows(rows, added("TTFT p99, " + BURST_STREAMS + " streams at once, 20-token Chat", burst.direct().ttftMs(99),
            burst.talon().ttftMs(99)), failures(burst));

        for (int streams : THROUGHPUT_STREAMS) {
          throughput(client, shortChat, fake.child(), t, streams, o.requests(), rows);
        }

        longStreams(client, Paths.chat(fakeUrl, talon.url(), LONG), "Chat", fake.child(), t, o, rows);
        longStreams(client, Paths.responses(fakeUrl, talon.url(), LONG), "Responses", fake.child(), t, o, rows);

        journal(client, shortChat, o, rows);
        rows(rows, new Row("Talon RSS idle, after ready and its first request", "", mb(idleKb), ""),
            new Row("Talon RSS max under load (every row from the heap row on)", "", mb(rss.maxKb()),
                String.format("%.2fx idle", (double) rss.maxKb() / idleKb)));
      }
      System.out.printf("%n== ServeBench (direct = straight to the fake upstream; load average now %s) ==%n",
          loadAverage());
      print(HEADER);
      rows.forEach(ServeBench::print);
      talonLogProblems(talon);
    } finally {
      try {
        stopClient(clientSystem);
      } finally {
        Child.killAll();
        GatewayBench.deleteQuietly(work);
      }
    }
  }

  /** @param more further top-level settings, each followed by a comma, e.g. {@code talon: { … },} */
  static Path writeConfig(Path file, String fakeUrl, String more) throws IOException {
    String models = List.of(SHORT, LONG, PACED).stream().map(r -> "{ id: \"" + r.model() + "\" }")
        .collect(Collectors.joining(", "));
    return Files.writeString(file, """
        // a benchmark's: every model is the fake upstream's; a model name picks its reply
        { agents: { defaults: { model: { primary: "%s/%s" } } },
          models: { mode: "replace", providers: {
            %s: { baseUrl: "%s/v1", apiKey: "none", api: "openai-completions", models: [%s] } } },
          %s
          gateway: { bind: "loopback" } }
        """.formatted(PROVIDER, SHORT.model(), PROVIDER, fakeUrl, models, more));
  }

  // ---- the rows -----------------------------------------------------------------------------

  /** One paced request on its own. */
  static StreamResult first(LoadClient client, Target target) throws Exception {
    return client.stream(target, null, PACED.text(), PACED.tokens())
        .get(STREAM_TIMEOUT.toSeconds() + 30, TimeUnit.SECONDS);
  }

  static double ttftMs(StreamResult r) {
    if (r.error != null) {
      throw new IllegalStateException("a paced request failed: " + r.error);
    }
    return (r.first - r.sent) / 1e6;
  }

  /** Closed loops of {@code streams} clients, direct then Talon, each after a warm-up of both. */
  static void throughput(LoadClient client, Paths paths, Child fake, Child talon, int streams, int requests,
      List<Row> rows) throws Exception {
    int warmUp = Math.max(2 * streams, requests / WARM_UP_SHARE);
    closedLoop(client, paths.direct(), SHORT, streams, warmUp, KEYLESS);
    closedLoop(client, paths.talon(), SHORT, streams, warmUp, KEYLESS);
    Cpu directCpu = Cpu.of(fake, () -> closedLoop(client, paths.direct(), SHORT, streams, requests, KEYLESS));
    Cpu talonCpu = Cpu.of(talon, () -> closedLoop(client, paths.talon(), SHORT, streams, requests, KEYLESS));
    rows(rows, versus("req/s, " + streams + " streams, 20-token Chat", directCpu.loop().perSecond(),
        talonCpu.loop().perSecond()), failures(directCpu.loop(), talonCpu.loop()));
    if (streams == CPU_STREAMS) {
      rows(rows, versus("CPU ms per request at " + streams + " streams (direct: the fake's)",
          directCpu.msPerRequest(), talonCpu.msPerRequest()));
    }
  }

  /** Tokens/s after the first token of one stream at a time, then CPU per stream of each process alone. */
  static void longStreams(LoadClient client, Paths paths, String api, Child fake, Child talon, Options o,
      List<Row> rows) throws Exception {
    Comparison c = GatewayBench.compare(client, paths.direct(), paths.talon(), 1, o.longStreams(), WARM_UP_LONG,
        LONG.text(), LONG.tokens());
    rows(rows, versus("tokens/s after the first, 1 stream, 2,000-token " + api, c.direct().perStreamTps(),
        c.talon().perStreamTps()), failures(c));
    Cpu directCpu = Cpu.of(fake, () -> closedLoop(client, paths.direct(), LONG, 1, o.longStreams(), KEYLESS));
    Cpu talonCpu = Cpu.of(talon, () -> closedLoop(client, paths.talon(), LONG, 1, o.longStreams(), KEYLESS));
    rows(rows, versus("CPU ms per 2,000-token " + api + " stream (direct: the fake's)", directCpu.msPerRequest(),
        talonCpu.msPerRequest()), failures(directCpu.loop(), talonCpu.loop()));
  }

  /** Session-keyed turns, each conversation {@code turns} long and every turn journaled, vs keyless direct. */
  static void journal(LoadClient client, Paths paths, Options o, List<Row> rows) throws Exception {
    int streams = o.journalStreams();
    int warmUp = Math.max(2 * streams, o.journalTurns() / WARM_UP_SHARE);
    closedLoop(client, paths.direct(), SHORT, streams, warmUp, KEYLESS);
    closedLoop(client, paths.talon(), SHORT, streams, warmUp, conversations("journal-warm", o.turns()));
    Throughput direct = closedLoop(client, paths.direct(), SHORT, streams, o.journalTurns(), KEYLESS);
    Throughput talon = closedLoop(client, paths.talon(), SHORT, streams, o.journalTurns(),
        conversations("journal", o.turns()));
    rows(rows, versus("journaled turns/s, " + streams + " conversations at once, " + o.turns() + " turns each"
        + " (direct: req/s)", direct.perSecond(), talon.perSecond()), failures(direct, talon));
  }

  /** Live heap (after a full GC) before and after creating conversations, per conversation. */
  static void heapPerConversation(LoadClient client, Target target, Child talon, Options o, List<Row> rows)
      throws Exception {
    int streams = o.journalStreams();
    closedLoop(client, target, SHORT, streams, 2 * streams * o.turns(), conversations("heap-warm", o.turns()));
    long before = talon.liveHeapBytes();
    Throughput made = closedLoop(client, target, SHORT, streams, o.conversations() * o.turns(),
        conversations("heap", o.turns()));
    long after = talon.liveHeapBytes();
    rows(rows, new Row("Talon heap per resident conversation (" + made.sessions() + " x " + o.turns() + " turns)",
        "", String.format("%,.0f B", (after - before) / (double) made.sessions()),
        String.format("live heap %.1f -> %.1f MB", before / 1e6, after / 1e6)), failures(made));
  }

  // ---- closed loops -------------------------------------------------------------------------

  /** The conversation a worker's turn belongs to, or null for none (a keyless request). */
  interface Sessions {
    String key(int worker, int turn);
  }

  static final Sessions KEYLESS = (worker, turn) -> null;

  /** Each worker continues one conversation for {@code turns} turns, then starts the next. */
  static Sessions conversations(String prefix, int turns) {
    return (worker, turn) -> prefix + "-" + worker + "-" + turn / turns;
  }

  record Throughput(int requests, int errors, double seconds, int sessions, String firstError) {
    double perSecond() {
      return requests / seconds;
    }
  }

  /**
   * {@code streams} workers, each sending its next request as soon as its last one ended, until
   * {@code requests} were sent; a failed request counts and the loop goes on.
   */
  static Throughput closedLoop(LoadClient client, Target target, Reply reply, int streams, int requests,
      Sessions sessions) throws Exception {
    return closedLoop(client, List.of(target), reply, streams, requests, sessions);
  }

  /** The same, worker {@code w} sending to {@code targets[w % targets.size()]}: clients spread over servers. */
  static Throughput closedLoop(LoadClient client, List<Target> targets, Reply reply, int streams, int requests,
      Sessions sessions) throws Exception {
    ClosedLoop loop = new ClosedLoop(client, targets, reply.text(), reply.tokens(), requests, sessions);
    long start = System.nanoTime();
    List<CompletableFuture<Void>> workers = new ArrayList<>();
    for (int w = 0; w < streams; w++) {
      CompletableFuture<Void> done = new CompletableFuture<>();
      workers.add(done);
      loop.next(w, 0, done);
    }
    CompletableFuture.allOf(workers.toArray(CompletableFuture[]::new))
        .get(LOOP_DEADLINE.toSeconds(), TimeUnit.SECONDS);
    return new Throughput(requests, loop.errors.get(), (System.nanoTime() - start) / 1e9, loop.keys.size(),
        loop.firstError.get());
  }

  private static final class ClosedLoop {
    final LoadClient client;
    final List<Target> targets;
    final String text;
    final int tokens;
    final int requests;
    final Sessions sessions;
    final AtomicInteger issued = new AtomicInteger();
    final AtomicInteger errors = new AtomicInteger();
    final AtomicReference<String> firstError = new AtomicReference<>();
    final Set<String> keys = ConcurrentHashMap.newKeySet();

    ClosedLoop(LoadClient client, List<Target> targets, String text, int tokens, int requests, Sessions sessions) {
      this.client = client;
      this.targets = targets;
      this.text = text;
      this.tokens = tokens;
      this.requests = requests;
      this.sessions = sessions;
    }

    void next(int worker, int turn, CompletableFuture<Void> done) {
      if (issued.getAndIncrement() >= requests) {
        done.complete(null);
        return;
      }
      String key = sessions.key(worker, turn);
      if (key != null) {
        keys.add(key);
      }
      client.stream(targets.get(worker % targets.size()), key, text, tokens).whenComplete((result, failure) -> {
        String error = failure != null ? failure.toString() : result.error;
        if (error != null) {
          errors.incrementAndGet();
          firstError.compareAndSet(null, error);
        }
        next(worker, turn + 1, done);
      });
    }
  }

  // ---- processes ----------------------------------------------------------------------------

  /** A process this benchmark started; every one still running is killed at exit, however the run ends. */
  static final class Child {
    private static final List<Child> RUNNING = new CopyOnWriteArrayList<>();

    static {
      Runtime.getRuntime().addShutdownHook(new Thread(Child::killAll, "serve-bench-children"));
    }

    private final Process process;
    private final Path log;

    private Child(Process process, Path log) {
      this.process = process;
      this.log = log;
      RUNNING.add(this);
    }

    static Child start(ProcessBuilder builder, Path log) throws IOException {
      return new Child(builder.start(), log);
    }

    static void killAll() {
      RUNNING.forEach(Child::kill);
    }

    long pid() {
      return process.pid();
    }

    boolean alive() {
      return process.isAlive();
    }

    /**
     * SIGTERM, as a user's Ctrl-C: Talon drains, leaves its cluster and exits. Returns once it has,
     * or kills it after {@code deadline}.
     */
    void stop(Duration deadline) throws InterruptedException {
      process.destroy();
      if (!process.waitFor(deadline.toMillis(), TimeUnit.MILLISECONDS)) {
        System.err.println("pid " + pid() + " still runs " + deadline + " after SIGTERM; killing it");
      }
      kill();
    }

    /** With its descendants: {@code bin/talon} may run a JVM of its own before it execs Talon's. */
    void kill() {
      process.descendants().forEach(ProcessHandle::destroyForcibly);
      process.destroyForcibly();
      try {
        if (!process.waitFor(KILL_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)) {
          System.err.println("pid " + pid() + " still runs " + KILL_DEADLINE + " after SIGKILL");
        }
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      RUNNING.remove(this);
    }

    double cpuMs() throws IOException {
      String stat = Files.readString(Path.of("/proc", Long.toString(pid()), "stat"));
      // Fields after the command name, which may hold spaces: state is the 3rd, utime the 14th, stime the 15th.
      String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      return (Long.parseLong(fields[11]) + Long.parseLong(fields[12])) * 1000.0 / CLOCK_TICKS;
    }

    long rssKb() throws IOException {
      for (String line : Files.readAllLines(Path.of("/proc", Long.toString(pid()), "status"))) {
        if (line.startsWith("VmRSS:")) {
          return Long.parseLong(line.replaceAll("\\D", ""));
        }
      }
      throw new IllegalStateException("no VmRSS for pid " + pid());
    }

    /** {@code jcmd GC.class_histogram}'s total: it runs a full GC first, so only live objects count. */
    long liveHeapBytes() throws Exception {
      Path out = Files.createTempFile(log.getParent(), "histogram", ".txt");
      Process jcmd = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "jcmd").toString(),
          Long.toString(pid()), "GC.class_histogram").redirectErrorStream(true).redirectOutput(out.toFile()).start();
      if (!jcmd.waitFor(JCMD_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)) {
        jcmd.destroyForcibly();
        throw new IllegalStateException("jcmd GC.class_histogram took over " + JCMD_DEADLINE);
      }
      for (String line : Files.readAllLines(out)) {
        if (line.startsWith("Total")) {
          return Long.parseLong(line.trim().split("\\s+")[2]);
        }
      }
      throw new IllegalStateException("no Total in jcmd's histogram: " + Files.readString(out));
    }

    String logTail() {
      List<String> lines = log().lines().toList();
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    }

    String log() {
      try {
        return Files.readString(log);
      } catch (IOException e) {
        return "(log unreadable: " + e + ")";
      }
    }
  }

  /** The fake upstream's JVM, on this JVM's classpath. */
  record Fake(Child child, int port) {
    /** Returns once the fake listens. */
    static Fake start(Path work) throws Exception {
      List<String> command = new ArrayList<>(List.of(
          Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx512m"));
      String pool = "java.util.concurrent.ForkJoinPool.common.parallelism";
      if (System.getProperty(pool) != null) { // bench/run's setting, for the same reason as here
        command.add("-D" + pool + "=" + System.getProperty(pool));
      }
      command.addAll(List.of("-cp", System.getProperty("java.class.path"), FakeUpstreamMain.class.getName()));
      Path log = work.resolve("fake-upstream.log");
      Child child = Child.start(new ProcessBuilder(command).redirectError(log.toFile()), log);
      CompletableFuture<Integer> port = new CompletableFuture<>();
      Thread reader = new Thread(() -> {
        try (BufferedReader out = new BufferedReader(new InputStreamReader(child.process.getInputStream(),
            StandardCharsets.UTF_8))) {
          for (String line = out.readLine(); line != null; line = out.readLine()) {
            if (line.startsWith(FakeUpstreamMain.LISTENING)) {
              port.complete(Integer.parseInt(line.substring(FakeUpstreamMain.LISTENING.length())));
            }
          }
        } catch (IOException e) {
          port.completeExceptionally(e);
        } finally {
          port.completeExceptionally(new IllegalStateException("the fake upstream exited:\n" + child.logTail()));
        }
      }, "fake-upstream-output");
      reader.setDaemon(true);
      reader.start();
      return new Fake(child, port.get(START_DEADLINE.toSeconds(), TimeUnit.SECONDS));
    }

    String url() {
      return "http://127.0.0.1:" + port;
    }
  }

  record Talon(Child child, String url, double readyMs) {
    private static final HttpClient PROBE = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();

    /** {@code bin/talon serve} on an empty data directory; returns once {@code /ready} answers 200. */
    static Talon start(Path work, Path config, String dataName) throws Exception {
      Path data = Files.createDirectory(work.resolve(dataName));
      Path log = work.resolve(dataName + ".log");
      int port = freePort();
      String url = "http://127.0.0.1:" + port;
      ProcessBuilder builder = new ProcessBuilder(Path.of("bin", "talon").toAbsolutePath().toString(), "serve",
          "--config", config.toString(), "--port", Integer.toString(port), "--data", data.toString())
          .redirectErrorStream(true).redirectOutput(log.toFile());
      long start = System.nanoTime();
      Child child = Child.start(builder, log);
      HttpRequest ready = HttpRequest.newBuilder(URI.create(url + "/ready")).timeout(Duration.ofSeconds(1)).build();
      long deadline = start + START_DEADLINE.toNanos();
      while (System.nanoTime() < deadline) {
        if (!child.alive()) {
          throw new IllegalStateException("bin/talon serve exited before it was ready:\n" + child.logTail());
        }
        try {
          if (PROBE.send(ready, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
            return new Talon(child, url, (System.nanoTime() - start) / 1e6);
          }
        } catch (IOException notYet) {
          // not listening yet
        }
        Thread.sleep(POLL.toMillis());
      }
      throw new IllegalStateException("bin/talon serve not ready in " + START_DEADLINE + ":\n" + child.logTail());
    }

    /** Waits for the node's "rehearsed … turns" line; returns the milliseconds waited. */
    double awaitWarmedUp() throws Exception {
      long start = System.nanoTime();
      long deadline = start + START_DEADLINE.toNanos();
      while (!child.log().contains("dev.talon.cli.Warmup - rehearsed ")) {
        if (System.nanoTime() > deadline || !child.alive()) {
          throw new IllegalStateException("bin/talon serve did not end its warm-up:\n" + child.logTail());
        }
        Thread.sleep(POLL.toMillis());
      }
      return (System.nanoTime() - start) / 1e6;
    }

    static int freePort() throws IOException {
      try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
        return socket.getLocalPort();
      }
    }
  }

  /** CPU a process spent while {@code phase} ran. */
  record Cpu(Throughput loop, double ms) {
    interface Phase {
      Throughput run() throws Exception;
    }

    static Cpu of(Child process, Phase phase) throws Exception {
      double before = process.cpuMs();
      Throughput loop = phase.run();
      return new Cpu(loop, process.cpuMs() - before);
    }

    double msPerRequest() {
      return ms / loop.requests();
    }
  }

  /** The highest RSS of a process while open, sampled every {@link #RSS_POLL}. */
  static final class RssPoller implements AutoCloseable {
    private final AtomicLong maxKb = new AtomicLong();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread thread = new Thread(r, "rss-poller");
      thread.setDaemon(true);
      return thread;
    });

    RssPoller(Child process) {
      timer.scheduleAtFixedRate(() -> {
        try {
          maxKb.accumulateAndGet(process.rssKb(), Math::max);
        } catch (IOException e) {
          throw new UncheckedIOException(e); // the process is gone: stop sampling
        }
      }, 0, RSS_POLL.toMillis(), TimeUnit.MILLISECONDS);
    }

    long maxKb() {
      return maxKb.get();
    }

    @Override
    public void close() {
      timer.shutdownNow();
    }
  }

  static long clockTicks() {
    try {
      Process getconf = new ProcessBuilder("getconf", "CLK_TCK").start();
      if (!getconf.waitFor(10, TimeUnit.SECONDS)) {
        getconf.destroyForcibly();
        throw new IllegalStateException("getconf CLK_TCK did not answer");
      }
      return Long.parseLong(new String(getconf.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  /** The load client's pools first: a pool whose server vanished under it logs an error on shutdown. */
  static void stopClient(ActorSystem<?> clientSystem) throws Exception {
    Http.get(clientSystem).shutdownAllConnectionPools().toCompletableFuture().get(30, TimeUnit.SECONDS);
    clientSystem.terminate();
    clientSystem.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  static String loadAverage() throws IOException {
    String[] fields = Files.readString(Path.of("/proc/loadavg")).split(" ");
    return fields[0] + " " + fields[1] + " " + fields[2];
  }

  /** Warnings and errors Talon logged in the run: a row's figure means little if Talon was failing. */
  static void talonLogProblems(Talon talon) throws IOException {
    List<String> problems = Files.readAllLines(talon.child().log).stream()
        .filter(line -> line.contains("WARN") || line.contains("ERROR")).toList();
    System.out.printf("Talon logged %d warning/error lines%s%n", problems.size(), problems.isEmpty() ? "" : ", e.g.:");
    problems.stream().limit(5).forEach(line -> System.out.println("  " + line));
  }

  // ---- the table ----------------------------------------------------------------------------

  static void rows(List<Row> rows, Row... added) {
    for (Row row : added) {
      if (row != null) {
        rows.add(row);
        print(row);
      }
    }
  }

  static void print(Row row) {
    System.out.printf("%-78s %12s %12s  %s%n", row.what(), row.direct(), row.talon(), row.vsDirect());
  }

  static Row versus(String what, double direct, double talon) {
    return new Row(what, String.format("%,.2f", direct), String.format("%,.2f", talon),
        String.format("%.2fx direct", talon / direct));
  }

  static Row added(String what, double directMs, double talonMs) {
    return new Row(what, ms(directMs), ms(talonMs), String.format("%+.2f ms (%.2fx direct)", talonMs - directMs,
        talonMs / directMs));
  }

  static String ms(double ms) {
    return String.format("%,.2f ms", ms);
  }

  static String mb(long kb) {
    return String.format("%,.1f MB", kb / 1024.0);
  }

  /** A row under the last one when a path had failures (their kinds printed at once), else null. */
  static Row failures(Comparison c) {
    int direct = c.direct().errors() + c.direct().stalled;
    int talon = c.talon().errors() + c.talon().stalled;
    if (direct + talon == 0) {
      return null;
    }
    GatewayBench.printFailures(c);
    return new Row("  failed streams", Integer.toString(direct), Integer.toString(talon), "");
  }

  static Row failures(Throughput... loops) {
    List<Throughput> failed = List.of(loops).stream().filter(l -> l.errors() > 0).toList();
    if (failed.isEmpty()) {
      return null;
    }
    return new Row("  failed requests: " + failed.stream().map(l -> l.errors() + " (" + l.firstError() + ")")
        .collect(Collectors.joining("; ")), "", "", "");
  }
}
