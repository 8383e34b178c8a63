package dev.talon.cli;

import dev.talon.config.GatewaySettings;
import dev.talon.config.TalonConfig;
import dev.talon.config.TalonSettings;
import dev.talon.gateway.ApiRoutes;
import dev.talon.gateway.GatewayServer;
import dev.talon.gateway.ResponseIds;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CountDownLatch;
import dev.talon.cluster.TalonRuntime;
import dev.talon.conversation.FailoverRunner;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.stream.Materializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/** {@code talon serve}: runs the gateway until the process is stopped. */
@Command(name = "serve", description = "Run Talon: the OpenAI-compatible API on the gateway port.")
final class ServeCommand implements Callable<Integer> {
  static final String EXIT_WHEN_READY = "talon.exitWhenReady";

  @ParentCommand TalonCli root;

  @Spec CommandSpec spec;

  @Option(names = "--port", description = "Gateway port (default: gateway.port, else 18789).")
  Integer port;

  @Option(names = "--warmup-turns", paramLabel = "N",
      description = "Turns the node rehearses once started, to warm up its compiler (default: talon.warmup.turns,"
          + " else 1000; 0 for none).")
  Integer warmupTurns;

  @Override
  public Integer call() throws Exception {
    if (warmupTurns != null && warmupTurns < 0) {
      throw new ParameterException(spec.commandLine(), "--warmup-turns must be 0 or more, not " + warmupTurns);
    }
    TalonConfig loaded = root.loadConfig(null);
    TalonConfig config = recordingRun(warmupTurns == null ? loaded
        : withTalon(loaded, loaded.talon().withWarmupTurns(warmupTurns)));
    config.notices().forEach(root.err::println);
    Path data = root.dataDir(config);
    Files.createDirectories(data);
    GatewaySettings gateway = port != null ? config.gateway().withPort(port) : config.gateway();

    TalonRuntime runtime = TalonRuntime.start(config, data,
        (system, metrics) -> FailoverRunner.standard(system, config.talon(), metrics));
    JvmMetrics.builder().register(runtime.metrics().registry()); // memory, collections, threads, classes
    CountDownLatch terminated = new CountDownLatch(1);
    runtime.system().getWhenTerminated().thenRun(terminated::countDown);
    ResponseIds ids = ResponseIds.forNode(gateway, data);
    CompletionStage<Done> ready = runtime.whenUp()
        .thenCompose(up -> Warmup.readJournal(runtime.conversations(), gateway.limits().askTimeout()));
    ApiRoutes api = new ApiRoutes(config.catalog(), runtime.conversations(), runtime.cluster(), gateway,
        config.talon().mcp(), Materializer.matFromSystem(runtime.system()), ready, ids, runtime.metrics().registry());
    // Rehearsing the request path takes a cold JVM about a second: it runs while the node joins its
    // cluster and after, without holding up readiness (a request meanwhile shares the machine with it).
    // The warm-up turns after it wait while clients send turns of their own.
    CompletionStage<Done> rehearsed = Warmup.rehearse(runtime.system(), runtime.conversations(), config, ids,
        api::whenQuietFor);
    GatewayServer server;
    try {
      // Bound at once, so /health answers while the journal and sharding start; /ready tells when they are up.
      server = GatewayServer.bind(runtime.system(), gateway, api.route()).toCompletableFuture().get();
      ready.toCompletableFuture().get(60, TimeUnit.SECONDS);
      root.err.println("talon: listening on http://" + server.localAddress().getHostString() + ":"
          + server.localAddress().getPort() + " (config " + config.source() + ", "
          + config.talon().storage().type().name().toLowerCase() + " journal, data " + data.toAbsolutePath() + ")");
    } catch (Exception e) {
      runtime.close();
      throw e;
    }
    if (Boolean.getBoolean(EXIT_WHEN_READY)) { // bin/talon's start-up recording for the class-data archive
      rehearsed.toCompletableFuture().get(60, TimeUnit.SECONDS); // its classes belong in the archive too
      runtime.close();
      return 0;
    }
    stopGracefully(runtime, api, server, gateway.limits().drain());
    terminated.await();
    return 0;
  }

  /**
   * bin/talon's recording run for the class-data archive starts beside the real node: it must not
   * join the configured cluster or write to the configured database.
   */
  private static TalonConfig recordingRun(TalonConfig config) {
    // it records which classes a start loads, not compiled code: a warm-up would only make it longer
    return !Boolean.getBoolean(EXIT_WHEN_READY) ? config
        : withTalon(config, config.talon().standalone().withWarmupTurns(0));
  }

  private static TalonConfig withTalon(TalonConfig config, TalonSettings talon) {
    return new TalonConfig(config.source(), config.catalog(), config.gateway(), talon, config.notices());
  }

  /**
   * On SIGTERM (Pekko runs its coordinated shutdown from the JVM's shutdown hook): refuse new
   * turns and answer {@code /ready} with 503 while running turns finish, for at most
   * {@code drain}; then stop listening, close what is left, leave the cluster and stop.
   */
  private static void stopGracefully(TalonRuntime runtime, ApiRoutes api, GatewayServer server, Duration drain) {
    CoordinatedShutdown shutdown = CoordinatedShutdown.get(runtime.system());
    // One deadline for the turns and for their answers' last bytes: the node is still listening
    // while turns finish, so that /ready tells balancers it is stopping.
    shutdown.addTask(CoordinatedShutdown.PhaseBeforeServiceUnbind(), "talon-drain", () -> {
      long deadline = System.nanoTime() + drain.toNanos();
      return api.drain().toCompletableFuture()
          .completeOnTimeout(Done.getInstance(), drain.toMillis(), TimeUnit.MILLISECONDS)
          .thenCompose(drained -> server.unbind())
          .thenCompose(unbound -> server.closeConnections(Duration.ofNanos(Math.max(0, deadline - System.nanoTime()))));
    });
  }
}
