package dev.talon.bench;

import dev.talon.config.ConfigLoader;
import dev.talon.config.Model;
import dev.talon.config.TalonSettings;
import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Script;
import dev.talon.upstream.HttpModelClient;
import dev.talon.upstream.ModelEvent;
import dev.talon.upstream.ModelRequest;
import dev.talon.upstream.UpstreamCall;
import dev.talon.upstream.UpstreamCalls;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.stream.javadsl.Sink;

/**
 * One long reply streamed from the fake upstream at full speed: through Talon's client and
 * parser (tokens/s) versus reading the same response's raw bytes without parsing, in one run.
 * Usage: bench/run UpstreamParseBench [tokens] [rounds]
 */
public final class UpstreamParseBench {
  public static void main(String[] args) throws Exception {
    int tokens = args.length > 0 ? Integer.parseInt(args[0]) : 50_000;
    int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 7;
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "bench");
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      StringBuilder reply = new StringBuilder();
      for (int i = 0; i < tokens; i++) {
        reply.append("tok").append(i % 1000).append(' ');
      }
      fake.setDefault(Script.reply(reply.toString()));
      HttpModelClient client = new HttpModelClient(system, TalonSettings.Upstream.DEFAULTS);
      ModelRequest request = ModelRequest.of(null, List.of(new ModelRequest.Message(ModelRequest.Role.USER, "go")));
      System.out.printf("long reply of %,d tokens from the fake upstream, %d rounds after 2 warm-up rounds%n", tokens, rounds);
      System.out.printf("%-20s %14s %14s %8s%n", "api", "raw tokens/s", "parsed tok/s", "ratio");
      for (String api : List.of("openai-responses", "openai-completions", "anthropic-messages")) {
        Model model = ConfigLoader.parse("{ models: { mode: 'replace', providers: { fake: { baseUrl: '" + fake.baseUrl()
            + "', api: '" + api + "', models: [{ id: 'm' }] } } } }", "bench", Map.<String, String>of()::get)
            .catalog().resolve("fake/m");
        UpstreamCall call = UpstreamCalls.encode(model, request, true);
        List<Double> raw = new ArrayList<>();
        List<Double> parsed = new ArrayList<>();
        for (int round = -2; round < rounds; round++) {
          // Alternate the two so that noise from the shared machine hits both alike.
          double r = rawTokensPerSecond(system, call, tokens);
          double p = parsedTokensPerSecond(system, client, model, request, tokens);
          if (round >= 0) {
            raw.add(r);
            parsed.add(p);
          }
        }
        double rawMedian = median(raw);
        double parsedMedian = median(parsed);
        System.out.printf("%-20s %,14.0f %,14.0f %7.0f%%%n", api, rawMedian, parsedMedian, 100 * parsedMedian / rawMedian);
      }
    } finally {
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
  }

  /** The same request, its body read as bytes and thrown away: the cost floor of the transport. */
  static double rawTokensPerSecond(ActorSystem<?> system, UpstreamCall call, int tokens) throws Exception {
    long start = System.nanoTime();
    Http.get(system).singleRequest(HttpRequest.POST(call.url())
            .withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON, call.bodyBytes())))
        .thenCompose(response -> response.entity().getDataBytes().runWith(Sink.ignore(), system))
        .toCompletableFuture().get(120, TimeUnit.SECONDS);
    return tokens / seconds(start);
  }

  static double parsedTokensPerSecond(ActorSystem<?> system, HttpModelClient client, Model model, ModelRequest request,
      int tokens) throws Exception {
    long start = System.nanoTime();
    long deltas = client.stream(model, request)
        .runFold(0L, (n, e) -> e instanceof ModelEvent.TextDelta ? n + 1 : n, system)
        .toCompletableFuture().get(120, TimeUnit.SECONDS);
    if (deltas < tokens) {
      throw new IllegalStateException("expected " + tokens + " text deltas, got " + deltas);
    }
    return tokens / seconds(start);
  }

  static double seconds(long startNanos) {
    return (System.nanoTime() - startNanos) / 1e9;
  }

  static double median(List<Double> values) {
    List<Double> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    return sorted.get(sorted.size() / 2);
  }
}
