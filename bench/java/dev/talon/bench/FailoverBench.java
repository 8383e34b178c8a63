package dev.talon.bench;

import dev.talon.config.ConfigLoader;
import dev.talon.config.Model;
import dev.talon.config.ModelCatalog;
import dev.talon.config.TalonSettings;
import dev.talon.conversation.ModelView;
import dev.talon.conversation.Cooldowns;
import dev.talon.conversation.FailoverRunner;
import dev.talon.conversation.TurnEvent;
import dev.talon.conversation.NodeMetrics;
import dev.talon.testing.ErrorBodies;
import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Script;
import dev.talon.upstream.HttpModelClient;
import dev.talon.upstream.ModelRequest;
import java.net.ServerSocket;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.stream.javadsl.Sink;

/**
 * What failing over costs. (1) With no retries, the time from a turn's start to the fallback's
 * first token, minus the failed call alone and the fallback's own first token measured
 * directly: the cost of the decision itself (target ≤ 5 ms), for an HTTP 500 and a refused
 * connection. (2) The whole path with the default settings (2 retries with backoff), fault to
 * the fallback's first token (target: a few seconds at most).
 * Usage: bench/run FailoverBench [rounds]
 */
public final class FailoverBench {
  static final ModelRequest HELLO = ModelRequest.of(null, List.of(new ModelRequest.Message(ModelRequest.Role.USER, "hi")));

  public static void main(String[] args) throws Exception {
    int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 30;
    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "bench");
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      int closedPort;
      try (ServerSocket socket = new ServerSocket(0)) {
        closedPort = socket.getLocalPort();
      }
      ModelCatalog catalog = ConfigLoader.parse("{ models: { mode: 'replace', providers: {"
          + " broken: { baseUrl: '" + fake.baseUrl() + "', api: 'openai-responses', models: [{ id: 'a' }] },"
          + " refused: { baseUrl: 'http://127.0.0.1:" + closedPort + "/v1', api: 'openai-responses', models: [{ id: 'a' }] },"
          + " backup: { baseUrl: '" + fake.baseUrl() + "', api: 'openai-responses', models: [{ id: 'b' }] } } } }",
          "bench", Map.<String, String>of()::get).catalog();
      HttpModelClient client = new HttpModelClient(system, TalonSettings.Upstream.DEFAULTS);
      Model backup = catalog.resolve("backup/b");
      System.out.printf("failover cost, median of %d rounds (after 5 warm-up rounds)%n", rounds);
      for (String fault : List.of("broken/a", "refused/a")) {
        Model failing = catalog.resolve(fault);
        Script faultScript = Script.status(500, ErrorBodies.openAiServerError());
        List<Double> failedCall = new ArrayList<>();
        List<Double> directFirstToken = new ArrayList<>();
        List<Double> viaFailover = new ArrayList<>();
        TalonSettings.Failover noRetries = new TalonSettings.Failover(0, Duration.ofMillis(200), Duration.ofSeconds(2),
            Duration.ofSeconds(10), TalonSettings.Failover.DEFAULTS.cooldowns(), 3,
            TalonSettings.Failover.DEFAULTS.midStream());
        for (int round = -5; round < rounds; round++) {
          if (failing.provider().id().equals("broken")) {
            fake.enqueue(faultScript);
          }
          double failed = time(() -> client.stream(failing, HELLO).runWith(Sink.ignore(), system)
              .handle((done, error) -> done).toCompletableFuture().get(10, TimeUnit.SECONDS));
          fake.enqueue(Script.reply("ok"));
          double direct = time(() -> client.stream(backup, HELLO).take(1).runWith(Sink.head(), system)
              .toCompletableFuture().get(10, TimeUnit.SECONDS));
          if (failing.provider().id().equals("broken")) {
            fake.enqueue(faultScript);
          }
          fake.enqueue(Script.reply("ok"));
          FailoverRunner runner = new FailoverRunner(client, new Cooldowns(noRetries.cooldowns(), Clock.systemUTC()),
              noRetries, new NodeMetrics(List.of()));
          double total = time(() -> firstFallbackToken(runner, system, List.of(failing, backup)));
          if (round >= 0) {
            failedCall.add(failed);
            directFirstToken.add(direct);
            viaFailover.add(total);
          }
        }
        double overhead = median(viaFailover) - median(failedCall) - median(directFirstToken);
        System.out.printf("%-24s failed call %6.2f ms + fallback first token %6.2f ms; via failover %6.2f ms"
                + " -> decision overhead %+.2f ms%n", fault.startsWith("broken") ? "HTTP 500" : "refused connection",
            median(failedCall), median(directFirstToken), median(viaFailover), overhead);
      }
      // The whole path with the default settings: 2 retries with backoff, then the fallback.
      List<Double> whole = new ArrayList<>();
      Model failing = catalog.resolve("broken/a");
      for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 3; i++) {
          fake.enqueue(Script.status(500, ErrorBodies.openAiServerError()));
        }
        fake.enqueue(Script.reply("ok"));
        FailoverRunner runner = new FailoverRunner(client, new Cooldowns(TalonSettings.Failover.DEFAULTS.cooldowns(),
            Clock.systemUTC()), TalonSettings.Failover.DEFAULTS, new NodeMetrics(List.of()));
        whole.add(time(() -> firstFallbackToken(runner, system, List.of(failing, backup))));
      }
      System.out.printf("whole failover path, default settings (HTTP 500 x3, backoff 200+400 ms): fault to fallback's"
          + " first token %.0f ms (median of 5)%n", median(whole));
    } finally {
      system.terminate();
      system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }
  }

  static Object firstFallbackToken(FailoverRunner runner, ActorSystem<?> system, List<Model> chain) throws Exception {
    return runner.run("bench", chain, ModelView.of(HELLO), null).filter(e -> e instanceof TurnEvent.TextDelta).take(1)
        .runWith(Sink.head(), system).toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  interface Timed {
    Object run() throws Exception;
  }

  static double time(Timed body) throws Exception {
    long start = System.nanoTime();
    body.run();
    return (System.nanoTime() - start) / 1e6;
  }

  static double median(List<Double> values) {
    List<Double> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    return sorted.get(sorted.size() / 2);
  }
}
