package dev.talon.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.talon.cluster.TalonRuntime;
import dev.talon.config.ConfigLoader;
import dev.talon.config.GatewaySettings;
import dev.talon.config.TalonConfig;
import dev.talon.conversation.FailoverRunner;
import dev.talon.gateway.ApiRoutes;
import dev.talon.gateway.GatewayServer;
import dev.talon.gateway.ResponseIds;
import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Script;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.pekko.actor.Cancellable;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Framing;
import org.apache.pekko.stream.javadsl.FramingTruncation;
import org.apache.pekko.util.ByteString;

/**
 * Streams through Talon's OpenAI-compatible API versus the same streams straight to the fake
 * upstream, with one load client (Pekko HTTP client, its own ActorSystem, a real SSE parse of
 * every byte) for both paths, in one run: time to first content delta (short reply) and tokens/s
 * per stream after the first token (long reply), at 1, 100 and 1,000 concurrent streams. Every
 * stream must end with its terminal event and carry the whole reply; one that sends nothing for
 * {@code idleS} or does not finish within {@code timeoutS} counts as stalled.
 *
 * <p>Usage: {@code bench/run GatewayBench [key=value ...]}, keys (defaults): {@code levels}
 * (1,100,1000); {@code ttftRounds} (200: TTFT rounds at one stream; at more streams ttftRounds/20
 * rounds, at most 1,000 streams in all); {@code rounds} (2: tokens/s rounds at 100 streams; 10x at
 * one stream, rounds*100/streams at more); {@code tokens} (300, long reply); {@code delayMs} (10,
 * token pacing beyond one stream, so that all streams overlap; one stream gets full speed);
 * {@code responses} (true: also /v1/responses at one stream); {@code idleS} (20); {@code timeoutS}
 * (120); {@code sessionTurns} (0: every Talon request starts a new conversation, as a stateless
 * OpenAI client does; N: each stream slot continues one conversation for N turns, which takes the
 * start and recovery of a new conversation off most turns). A quick run:
 * {@code bench/run GatewayBench ttftRounds=50 rounds=1 levels=1,100}.
 */
public final class GatewayBench {
  static final ObjectMapper JSON = new ObjectMapper();
  static final String SHORT_REPLY = "Sure, here is a short answer for you.";

  public static void main(String[] args) {
    BenchMain.run(args, GatewayBench::run);
  }

  // ---- options ------------------------------------------------------------------------------

  record Options(List<Integer> levels, int ttftRounds, int rounds, int tokens, int delayMs, boolean responses,
      int idleS, int timeoutS, int sessionTurns) {
    static Options parse(String[] args) {
      Map<String, String> given = new HashMap<>();
      for (String arg : args) {
        int eq = arg.indexOf('=');
        if (eq < 0) {
          throw new IllegalArgumentException("expected key=value, got '" + arg + "'");
        }
        given.put(arg.substring(0, eq), arg.substring(eq + 1));
      }
      Options options = new Options(
          Stream.of(given.getOrDefault("levels", "1,100,1000").split(",")).map(String::trim).map(Integer::parseInt)
              .toList(),
          Integer.parseInt(given.getOrDefault("ttftRounds", "200")),
          Integer.parseInt(given.getOrDefault("rounds", "2")),
          Integer.parseInt(given.getOrDefault("tokens", "300")),
          Integer.parseInt(given.getOrDefault("delayMs", "10")),
          Boolean.parseBoolean(given.getOrDefault("responses", "true")),
          Integer.parseInt(given.getOrDefault("idleS", "20")),
          Integer.parseInt(given.getOrDefault("timeoutS", "120")),
          Integer.parseInt(given.getOrDefault("sessionTurns", "0")));
      given.keySet().removeAll(List.of("levels", "ttftRounds", "rounds", "tokens", "delayMs", "responses", "idleS",
          "timeoutS", "sessionTurns"));
      if (!given.isEmpty()) {
        throw new IllegalArgumentException("unknown options " + given.keySet());
      }
      return options;
    }

    /** TTFT rounds at {@code streams} concurrent streams: 200 samples at 1, 1,000 at 100 and at 1,000. */
    int ttftRoundsAt(int streams) {
      return streams == 1 ? ttftRounds : Math.max(1, Math.min(ttftRounds / 20, 1_000 / streams));
    }

    /** Rounds of the tokens/s phase: 20 at one stream, 2 at 100 streams, 1 at 1,000. */
    int tpsRoundsAt(int streams) {
      return streams == 1 ? rounds * 10 : Math.max(1, rounds * 100 / streams);
    }
  }

  // ---- the run ------------------------------------------------------------------------------

  static void run(String[] args) throws Exception {
    Options options = Options.parse(args);
    Path data = Files.createTempDirectory("talon-gateway-bench");
    ActorSystem<Void> clientSystem = ActorSystem.create(Behaviors.empty(), "load-client");
    try (FakeUpstream fake = FakeUpstream.start()) {
      TalonConfig config = ConfigLoader.parse("{ models: { mode: 'replace', providers: {"
              + " fake: { baseUrl: '" + fake.baseUrl() + "', api: 'openai-completions', models: [{ id: 'm' }] },"
              + " fakeR: { baseUrl: '" + fake.baseUrl() + "', api: 'openai-responses', models: [{ id: 'm' }] } } } }",
          "bench", Map.<String, String>of()::get);
      TalonRuntime runtime = TalonRuntime.start(config, data,
          (system, metrics) -> FailoverRunner.standard(system, config.talon(), metrics));
      try {
        runtime.whenUp().toCompletableFuture().get(60, TimeUnit.SECONDS);
        GatewaySettings settings = GatewaySettings.loopback(0, null);
        ApiRoutes api = new ApiRoutes(config.catalog(), runtime.conversations(), runtime.cluster(), settings,
            config.talon().mcp(), Materializer.matFromSystem(runtime.system()), runtime.whenUp(), ResponseIds.forNode(settings, data),
            runtime.metrics().registry());
        GatewayServer server = GatewayServer.bind(runtime.system(), settings, api.route())
            .toCompletableFuture().get(10, TimeUnit.SECONDS);
        String talon = "http://127.0.0.1:" + server.localAddress().getPort();
        LoadClient client = new LoadClient(clientSystem, Duration.ofSeconds(options.idleS()),
            Duration.ofSeconds(options.timeoutS()));

        int turns = options.sessionTurns();
        Target directChat = new Target("direct", Api.CHAT, fake.url("/v1/chat/completions"), chatBody("m"), 0);
        Target talonChat = new Target("Talon", Api.CHAT, talon + "/v1/chat/completions", chatBody("fake/m"), turns);
        Target directResponses = new Target("direct", Api.RESPONSES, fake.url("/v1/responses"), responsesBody("m"), 0);
        Target talonResponses = new Target("Talon", Api.RESPONSES, talon + "/v1/responses", responsesBody("fakeR/m"),
            turns);

        String longReply = longReply(options.tokens());
        Script shortScript = Script.reply(SHORT_REPLY);
        Script fullSpeed = Script.reply(longReply);
        Script paced = Script.reply(longReply).tokenDelay(Duration.ofMillis(options.delayMs()));
        int shortTokens = tokenCount(SHORT_REPLY);
        int longTokens = tokenCount(longReply);

        System.out.printf("GatewayBench: the fake upstream straight vs. through Talon's API, one Pekko HTTP load client"
                + " (own ActorSystem, SSE parsed line by line, every event JSON-parsed), %d cores%n",
            Runtime.getRuntime().availableProcessors());
        System.out.printf("short reply %d tokens (TTFT = request sent -> first non-empty content delta); long reply"
                + " %d tokens, full speed at 1 stream, tokenDelay %d ms at more (the fake's scheduler paces it: the"
                + " direct column shows the pace it really delivers);%n"
                + "N streams = N requests sent at once (a burst: TTFT at 100/1,000 includes queueing behind the"
                + " others); peak open = most response bodies open at the same time;%n"
                + "tokens/s per stream = (deltas - 1) / (last delta - first delta); stalled = no byte for %d s or"
                + " not done in %d s; every level starts with a warm-up round per path%n",
            shortTokens, longTokens, options.delayMs(), options.idleS(),
            options.timeoutS());

        if (turns > 0) {
          System.out.printf("Talon requests carry x-talon-session-key: each stream slot continues one conversation"
              + " for %d turns%n", turns);
        }
        List<String> verdicts = new ArrayList<>();
        for (int streams : options.levels()) {
          System.out.printf("%n== %,d concurrent stream%s, /v1/chat/completions ==%n", streams,
              streams == 1 ? "" : "s");
          fake.setDefault(shortScript);
          Comparison ttft = compare(client, directChat, talonChat, streams, options.ttftRoundsAt(streams),
              warmUps(streams), SHORT_REPLY, shortTokens);
          printTtft(ttft, streams, options.ttftRoundsAt(streams));
          Script longScript = streams == 1 ? fullSpeed : paced;
          fake.setDefault(longScript);
          // Beyond one stream the TTFT phase's warm-up (same level, same connections) serves this one too.
          Comparison tps = compare(client, directChat, talonChat, streams, options.tpsRoundsAt(streams),
              streams == 1 ? warmUps(1) : 0, longReply, longTokens);
          printTps(tps, streams, options.tpsRoundsAt(streams), streams == 1 ? "full speed"
              : options.delayMs() + " ms/token");
          verdicts.addAll(verdicts(streams, ttft, tps));

          if (streams == 1 && options.responses()) {
            System.out.printf("%n== 1 stream, /v1/responses (provider api openai-responses) ==%n");
            fake.setDefault(shortScript);
            Comparison rTtft = compare(client, directResponses, talonResponses, 1, options.ttftRoundsAt(1),
                warmUps(1), SHORT_REPLY, shortTokens);
            printTtft(rTtft, 1, options.ttftRoundsAt(1));
            fake.setDefault(fullSpeed);
            Comparison rTps = compare(client, directResponses, talonResponses, 1, options.tpsRoundsAt(1),
                warmUps(1), longReply, longTokens);
            printTps(rTps, 1, options.tpsRoundsAt(1), "full speed");
          }
        }
        System.out.printf("%n== against the targets (design.md, \"Performance targets\") ==%n");
        verdicts.forEach(System.out::println);
        server.unbind().toCompletableFuture().get(10, TimeUnit.SECONDS);
      } finally {
        runtime.close();
      }
    } finally {
      clientSystem.terminate();
      clientSystem.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
      deleteQuietly(data);
    }
  }

  /** One stream: JIT needs a few dozen turns; more streams: one round opens the connections and warms the rest. */
  static int warmUps(int streams) {
    return streams == 1 ? 30 : 1;
  }

  static String chatBody(String model) {
    return "{\"model\":\"" + model + "\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  }

  static String responsesBody(String model) {
    return "{\"model\":\"" + model + "\",\"stream\":true,\"input\":\"hi\"}";
  }

  static String longReply(int tokens) {
    StringBuilder reply = new StringBuilder();
    for (int i = 0; i < tokens; i++) {
      reply.append(i == 0 ? "" : " ").append("word").append(i % 1000);
    }
    return reply.toString();
  }

  // The fake's tokenizer (Script.tokenize): words with their leading space, runs of punctuation.
  private static final Pattern TOKEN = Pattern.compile("\\s*[\\p{L}\\p{N}_]+|\\s*[^\\s\\p{L}\\p{N}_]+|\\s+");

  static int tokenCount(String text) {
    Matcher matcher = TOKEN.matcher(text);
    int n = 0;
    while (matcher.find()) {
      n++;
    }
    return n;
  }

  // ---- one comparison: warm-up, then rounds alternating which path goes first ------------

  record Comparison(PathStats direct, PathStats talon) {}

  static Comparison compare(LoadClient client, Target direct, Target talon, int streams, int rounds, int warmUps,
      String expectedText, int expectedTokens) throws Exception {
    for (int w = 0; w < warmUps; w++) { // warm-up: connections, JIT
      client.round(direct, streams, expectedText, expectedTokens);
      client.round(talon, streams, expectedText, expectedTokens);
    }
    PathStats d = new PathStats();
    PathStats t = new PathStats();
    for (int r = 0; r < rounds; r++) {
      if (r % 2 == 0) {
        d.add(client.round(direct, streams, expectedText, expectedTokens));
        t.add(client.round(talon, streams, expectedText, expectedTokens));
      } else {
        t.add(client.round(talon, streams, expectedText, expectedTokens));
        d.add(client.round(direct, streams, expectedText, expectedTokens));
      }
    }
    return new Comparison(d, t);
  }

  static void printTtft(Comparison c, int streams, int rounds) {
    PathStats d = c.direct();
    PathStats t = c.talon();
    System.out.printf("TTFT, short reply, %d round%s x %,d: direct p50 %.2f p99 %.2f ms | Talon p50 %.2f p99 %.2f ms"
            + " | added p50 %+.2f ms, p99 %+.2f ms%n"
            + "    response headers direct p50 %.2f p99 %.2f ms, Talon p50 %.2f p99 %.2f ms | peak open %,d/%,d"
            + " | errors %d/%d, stalled %d/%d%n",
        rounds, rounds == 1 ? "" : "s", streams, d.ttftMs(50), d.ttftMs(99), t.ttftMs(50), t.ttftMs(99),
        t.ttftMs(50) - d.ttftMs(50), t.ttftMs(99) - d.ttftMs(99), d.headersMs(50), d.headersMs(99), t.headersMs(50),
        t.headersMs(99), d.peakOpen, t.peakOpen, d.errors(), t.errors(), d.stalled, t.stalled);
    printFailures(c);
  }

  static void printTps(Comparison c, int streams, int rounds, String pace) {
    PathStats d = c.direct();
    PathStats t = c.talon();
    System.out.printf("tokens/s, long reply (%s), %d round%s x %,d: per stream p50 direct %,.0f, Talon %,.0f (%.0f%%)"
            + " | aggregate direct %,.0f, Talon %,.0f (%.0f%%)%n",
        pace, rounds, rounds == 1 ? "" : "s", streams, d.perStreamTps(), t.perStreamTps(),
        100 * t.perStreamTps() / d.perStreamTps(), d.aggregateTps(), t.aggregateTps(),
        100 * t.aggregateTps() / d.aggregateTps());
    System.out.printf("    same streams: TTFT direct p50 %.2f p99 %.2f ms, Talon p50 %.2f p99 %.2f ms; headers p99"
            + " direct %.2f ms, Talon %.2f ms; round wall time p50 direct %.0f ms, Talon %.0f ms%n"
            + "    peak open %,d/%,d | errors %d/%d, stalled %d/%d%n",
        d.ttftMs(50), d.ttftMs(99), t.ttftMs(50), t.ttftMs(99), d.headersMs(99), t.headersMs(99), d.roundMs(),
        t.roundMs(), d.peakOpen, t.peakOpen, d.errors(), t.errors(), d.stalled, t.stalled);
    printFailures(c);
  }

  /** The most frequent failure kinds of each path (numbers in the messages are folded into "#"). */
  static void printFailures(Comparison c) {
    for (PathStats p : List.of(c.direct(), c.talon())) {
      String who = p == c.direct() ? "direct" : "Talon";
      List<Map.Entry<String, Integer>> kinds = new ArrayList<>(p.failures.entrySet());
      kinds.sort(Map.Entry.<String, Integer>comparingByValue().reversed());
      kinds.stream().limit(8).forEach(kind -> System.out.printf("    %s: %,d x %s%n", who, kind.getValue(),
          kind.getKey()));
      if (kinds.size() > 8) {
        System.out.printf("    %s: ... and %d more kinds of failure%n", who, kinds.size() - 8);
      }
    }
  }

  static List<String> verdicts(int streams, Comparison ttft, Comparison tps) {
    List<String> out = new ArrayList<>();
    if (streams == 1) {
      double added = ttft.talon().ttftMs(50) - ttft.direct().ttftMs(50);
      out.add(verdict(added <= 1.0, String.format("added TTFT, one client, p50 %+.2f ms (target <= 1 ms)", added)));
      double ratio = 100 * tps.talon().perStreamTps() / tps.direct().perStreamTps();
      out.add(verdict(ratio >= 80, String.format(
          "one long reply at full speed, tokens/s after the first token: %.0f%% of direct (target >= 80%%)", ratio)));
    }
    if (streams == 100) {
      double added = ttft.talon().ttftMs(99) - ttft.direct().ttftMs(99);
      out.add(verdict(added <= 5.0, String.format("added TTFT, 100 concurrent streams, p99 %+.2f ms (target <= 5 ms)",
          added)));
    }
    if (streams >= 1000) {
      PathStats t = tps.talon();
      int errors = ttft.talon().errors() + t.errors();
      int stalled = ttft.talon().stalled + t.stalled;
      out.add(verdict(t.peakOpen >= streams && errors == 0 && stalled == 0, String.format(
          "%,d live streams through Talon: peak %,d open at once; %d errors, %d stalled in both phases"
              + " (target: all at once, none)", streams, t.peakOpen, errors, stalled)));
    }
    return out;
  }

  static String verdict(boolean met, String what) {
    return (met ? "  met   " : "  MISSED ") + what;
  }

  // ---- statistics ---------------------------------------------------------------------------

  /** One stream as the client saw it; written by its stream only, read once it completed. */
  static final class StreamResult {
    long sent;
    long headers = -1;
    long end;
    long first = -1;
    long last = -1;
    int tokens;
    int chars;
    boolean done;
    String error;
    boolean stalled;
  }

  record RoundResult(List<StreamResult> streams, long wallNanos, int peakOpen) {}

  static final class PathStats {
    final List<Double> ttft = new ArrayList<>();
    final List<Double> headers = new ArrayList<>();
    final List<Double> tps = new ArrayList<>();
    final List<Double> roundMs = new ArrayList<>();
    final Map<String, Integer> failures = new TreeMap<>();
    long tokens;
    long wallNanos;
    int stalled;
    int peakOpen;

    void add(RoundResult round) {
      roundMs.add(round.wallNanos() / 1e6);
      wallNanos += round.wallNanos();
      peakOpen = Math.max(peakOpen, round.peakOpen());
      for (StreamResult s : round.streams()) {
        tokens += s.tokens;
        if (s.stalled) {
          stalled++;
          failures.merge("stalled: " + s.error.replaceAll("\\d+", "#"), 1, Integer::sum);
        } else if (s.error != null) {
          failures.merge(s.error.replaceAll("\\d+", "#"), 1, Integer::sum);
        }
        if (s.first >= 0) {
          ttft.add((s.first - s.sent) / 1e6);
        }
        if (s.headers >= 0) {
          headers.add((s.headers - s.sent) / 1e6);
        }
        if (s.error == null && s.tokens > 1 && s.last > s.first) {
          tps.add((s.tokens - 1) / ((s.last - s.first) / 1e9));
        }
      }
    }

    int errors() {
      return failures.values().stream().mapToInt(Integer::intValue).sum() - stalled;
    }

    double ttftMs(int percentile) {
      return pct(ttft, percentile);
    }

    double headersMs(int percentile) {
      return pct(headers, percentile);
    }

    double perStreamTps() {
      return pct(tps, 50);
    }

    double aggregateTps() {
      return tokens / (wallNanos / 1e9);
    }

    double roundMs() {
      return pct(roundMs, 50);
    }
  }

  static double pct(List<Double> values, int percentile) {
    if (values.isEmpty()) {
      return Double.NaN;
    }
    List<Double> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    return sorted.get(Math.min(sorted.size() - 1, (int) Math.ceil(sorted.size() * percentile / 100.0) - 1));
  }

  // ---- the load client ----------------------------------------------------------------------

  enum Api {
    CHAT,
    RESPONSES
  }

  /**
   * Where a stream goes. {@code sessionTurns} > 0 sends Talon's session header, so that stream i
   * of consecutive rounds continues one conversation for that many turns; 0 sends none (every
   * request a new conversation, as a stateless OpenAI client does).
   */
  record Target(String name, Api api, String url, String body, int sessionTurns) {}

  /** Runs a callback on the thread that completed the stage: every callback here is short. */
  static final Executor SAME_THREAD = Runnable::run;

  static final class LoadClient {
    private final ActorSystem<Void> system;
    private final Http http;
    private final Materializer materializer;
    private final Duration idle;
    private final Duration timeout;
    private final AtomicInteger open = new AtomicInteger();
    private final AtomicInteger peak = new AtomicInteger();
    private int rounds;

    LoadClient(ActorSystem<Void> system, Duration idle, Duration timeout) {
      this.system = system;
      this.http = Http.get(system);
      this.materializer = Materializer.matFromSystem(system);
      this.idle = idle;
      this.timeout = timeout;
    }

    /** {@code streams} requests at once; returns when every one ended, failed or timed out. */
    RoundResult round(Target target, int streams, String expectedText, int expectedTokens) throws Exception {
      peak.set(0);
      List<CompletableFuture<StreamResult>> running = new ArrayList<>(streams);
      long start = System.nanoTime();
      for (int i = 0; i < streams; i++) {
        String session = target.sessionTurns() > 0
            ? "bench-" + target.api() + "-" + i + "-" + rounds / target.sessionTurns() : null;
        running.add(stream(target, session, expectedText, expectedTokens));
      }
      List<StreamResult> results = new ArrayList<>(streams);
      for (CompletableFuture<StreamResult> future : running) {
        results.add(future.get(timeout.toSeconds() + 30, TimeUnit.SECONDS)); // every stream has its own timeout
      }
      if (target.sessionTurns() > 0) {
        rounds++;
      }
      long end = results.stream().mapToLong(r -> r.end).max().orElse(start);
      return new RoundResult(results, end - start, peak.get());
    }

    /**
     * One request and its whole SSE body. Every callback on a stage that Pekko returns names its
     * executor: Scala's CompletionStage adapter runs even {@code thenApply} asynchronously, on the
     * common pool, which on 2 cores (parallelism 1) means a new thread per callback.
     */
    CompletableFuture<StreamResult> stream(Target target, String session, String expectedText, int expectedTokens) {
      StreamResult result = new StreamResult();
      Sse sse = new Sse(target.api(), result);
      CompletableFuture<Void> ended = new CompletableFuture<>();
      HttpRequest request = HttpRequest.POST(target.url())
          .withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON, target.body()));
      if (session != null) {
        request = request.addHeader(RawHeader.create("x-talon-session-key", session));
      }
      result.sent = System.nanoTime();
      Cancellable noHeaders = system.classicSystem().scheduler().scheduleOnce(timeout,
          () -> ended.completeExceptionally(new TimeoutException("no response headers in " + timeout)),
          system.executionContext());
      http.singleRequest(request).whenCompleteAsync((response, failure) -> {
        if (!noHeaders.cancel()) {
          if (response != null) {
            response.discardEntityBytes(system);
          }
          return; // timed out already
        }
        if (failure != null) {
          ended.completeExceptionally(failure);
        } else {
          body(response, sse).whenCompleteAsync((done, bodyFailure) -> {
            if (bodyFailure != null) {
              ended.completeExceptionally(bodyFailure);
            } else {
              ended.complete(null);
            }
          }, SAME_THREAD);
        }
      }, SAME_THREAD);
      return ended.handle((ok, failure) -> {
        result.end = System.nanoTime();
        if (failure != null) {
          Throwable cause = failure instanceof CompletionException && failure.getCause() != null
              ? failure.getCause() : failure;
          result.stalled = cause instanceof TimeoutException;
          result.error = result.stalled ? cause.getClass().getSimpleName() + " after " + result.tokens + " tokens"
              : "failed: " + cause;
        } else if (result.error == null && !result.done) {
          result.error = "ended without its terminal event";
        } else if (result.error == null && (result.tokens != expectedTokens || result.chars != expectedText.length())) {
          result.error = "reply incomplete or changed: " + result.tokens + " deltas of " + expectedTokens + ", "
              + result.chars + " chars of " + expectedText.length();
        }
        return result;
      });
    }

    private CompletionStage<?> body(HttpResponse response, Sse sse) {
      if (response.status().intValue() != 200) {
        return response.entity().toStrict(5_000, materializer).thenApplyAsync(strict -> {
          String text = strict.getData().utf8String();
          sse.result.error = "HTTP " + response.status().intValue() + ": "
              + text.substring(0, Math.min(160, text.length()));
          return null;
        }, SAME_THREAD);
      }
      sse.result.headers = System.nanoTime();
      int now = open.incrementAndGet();
      peak.accumulateAndGet(now, Math::max);
      return response.entity().getDataBytes()
          .idleTimeout(idle)
          .completionTimeout(timeout)
          .via(Framing.delimiter(ByteString.fromString("\n"), 8 * 1024 * 1024, FramingTruncation.DISALLOW))
          .runForeach(sse::line, materializer)
          .whenCompleteAsync((done, failure) -> open.decrementAndGet(), SAME_THREAD);
    }
  }

  /**
   * A small Server-Sent Events parser: {@code event:} and {@code data:} lines, dispatched on the
   * blank line; comments ignored. Counts non-empty content deltas and checks the terminal event.
   */
  static final class Sse {
    final Api api;
    final StreamResult result;
    private String event;
    private final StringBuilder data = new StringBuilder();
    private boolean hasData;

    Sse(Api api, StreamResult result) {
      this.api = api;
      this.result = result;
    }

    void line(ByteString bytes) throws IOException {
      String line = bytes.utf8String();
      if (line.endsWith("\r")) {
        line = line.substring(0, line.length() - 1);
      }
      if (line.isEmpty()) {
        dispatch();
      } else if (line.startsWith("data:")) {
        if (hasData) {
          data.append('\n');
        }
        data.append(line, line.startsWith("data: ") ? 6 : 5, line.length());
        hasData = true;
      } else if (line.startsWith("event:")) {
        event = line.substring(line.startsWith("event: ") ? 7 : 6);
      } // ":" comments (keep-alive) and other fields are ignored
    }

    private void dispatch() throws IOException {
      if (!hasData) {
        event = null;
        return;
      }
      String payload = data.toString();
      String type = event;
      data.setLength(0);
      hasData = false;
      event = null;
      if (result.done) {
        result.error = "data after the terminal event";
        return;
      }
      if (api == Api.CHAT) {
        if (payload.equals("[DONE]")) {
          result.done = true;
          return;
        }
        JsonNode chunk = JSON.readTree(payload);
        if (chunk.has("error")) {
          result.error = "error chunk: " + chunk.get("error").path("message").asText();
          return;
        }
        JsonNode content = chunk.path("choices").path(0).path("delta").path("content");
        if (content.isTextual() && !content.textValue().isEmpty()) {
          token(content.textValue());
        }
      } else {
        JsonNode frame = JSON.readTree(payload);
        String kind = type != null ? type : frame.path("type").asText();
        switch (kind) {
          case "response.output_text.delta" -> token(frame.path("delta").asText());
          case "response.completed" -> result.done = true;
          case "response.failed", "response.incomplete", "error" ->
              result.error = kind + ": " + payload.substring(0, Math.min(160, payload.length()));
          default -> { }
        }
      }
    }

    private void token(String text) {
      long now = System.nanoTime();
      if (result.first < 0) {
        result.first = now;
      }
      result.last = now;
      result.tokens++;
      result.chars += text.length();
    }
  }

  static void deleteQuietly(Path dir) {
    try (Stream<Path> all = Files.walk(dir)) {
      all.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      System.err.println("could not delete " + dir + ": " + e);
    }
  }
}
