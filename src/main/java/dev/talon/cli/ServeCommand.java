package dev.talon.cli;

import dev.talon.config.GatewaySettings;
import dev.talon.config.TalonConfig;
import dev.talon.gateway.GatewayServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.http.javadsl.ServerBinding;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** {@code talon serve}: runs the gateway until the process is stopped. */
@Command(name = "serve", description = "Run Talon: the OpenAI-compatible API on the gateway port.")
final class ServeCommand implements Callable<Integer> {
  @ParentCommand TalonCli root;

  @Option(names = "--port", description = "Gateway port (default: gateway.port, else 18789).")
  Integer port;

  @Override
  public Integer call() throws Exception {
    TalonConfig config = root.loadConfig(null);
    config.notices().forEach(root.err::println);
    Path data = root.dataDir(config);
    Files.createDirectories(data);
    GatewaySettings gateway = port != null ? config.gateway().withPort(port) : config.gateway();

    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "talon");
    CountDownLatch terminated = new CountDownLatch(1);
    system.getWhenTerminated().thenRun(terminated::countDown);
    try {
      ServerBinding binding = GatewayServer.bind(system, gateway).toCompletableFuture().get();
      root.err.println("talon: listening on http://" + binding.localAddress().getHostString() + ":"
          + binding.localAddress().getPort() + " (config " + config.source() + ", data " + data.toAbsolutePath() + ")");
    } catch (Exception e) {
      system.terminate();
      throw e;
    }
    Runtime.getRuntime().addShutdownHook(new Thread(system::terminate, "talon-shutdown"));
    terminated.await();
    return 0;
  }
}
