package dev.talon.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.config.Agent;
import dev.talon.config.Model;
import dev.talon.config.ModelCatalog;
import dev.talon.config.Provider;
import dev.talon.config.TalonConfig;
import dev.talon.upstream.HttpModelClient;
import dev.talon.upstream.ModelProbe;
import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.typed.ActorSystem;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** {@code talon models list}: the resolved catalog, agents and their fallback chains. */
@Command(name = "models", description = "List and probe models.",
    subcommands = {ModelsCommand.ListModels.class, ModelsCommand.Status.class})
final class ModelsCommand {
  @ParentCommand TalonCli root;

  @Command(name = "list", description = "Show every model Talon can call, its aliases and the agents' chains.")
  static final class ListModels implements Callable<Integer> {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    @ParentCommand ModelsCommand parent;

    @Option(names = "--json", description = "Print JSON instead of a table.")
    boolean json;

    @Override
    public Integer call() throws Exception {
      TalonConfig config = parent.root.loadConfig(null);
      if (json) {
        parent.root.out.println(JSON.writeValueAsString(asJson(config.catalog())));
      } else {
        printTable(config.catalog(), parent.root.out);
      }
      return 0;
    }

    private static void printTable(ModelCatalog catalog, PrintStream out) {
      for (Agent agent : catalog.agents()) {
        out.println("agent " + agent.id() + (agent == catalog.defaultAgent() ? " (default)" : "") + ": "
            + agent.candidates().stream().map(Model::ref).collect(Collectors.joining(" -> ")));
      }
      out.println();
      String format = "%-40s %-16s %-19s %9s %8s  %-9s %s%n";
      out.printf(format, "MODEL", "ALIAS", "API", "CONTEXT", "MAX OUT", "SOURCE", "STATUS");
      for (Model m : catalog.models()) {
        out.printf(format, m.ref(), catalog.aliasOf(m).orElse("-"), m.api(), m.contextWindow(), m.maxTokens(),
            m.origin(), m.provider().available() ? "ready" : "unavailable: " + m.provider().unavailableReason());
      }
    }

    private static ObjectNode asJson(ModelCatalog catalog) {
      ObjectNode root = JSON.createObjectNode();
      root.put("mode", catalog.mode().name().toLowerCase());
      ArrayNode agents = root.putArray("agents");
      for (Agent agent : catalog.agents()) {
        ObjectNode a = agents.addObject();
        a.put("id", agent.id());
        a.put("default", agent == catalog.defaultAgent());
        agent.candidates().forEach(m -> a.withArray("chain").add(m.ref()));
      }
      ArrayNode models = root.putArray("models");
      for (Model m : catalog.models()) {
        ObjectNode o = models.addObject();
        o.put("ref", m.ref());
        o.put("name", m.name());
        catalog.aliasOf(m).ifPresent(alias -> o.put("alias", alias));
        o.put("api", m.api().configName());
        o.put("baseUrl", m.provider().baseUrl().toString());
        o.put("contextWindow", m.contextWindow());
        if (m.contextTokens() != null) {
          o.put("contextTokens", m.contextTokens());
        }
        o.put("maxTokens", m.maxTokens());
        o.put("reasoning", m.reasoning());
        o.put("source", m.origin().toString());
        o.put("providerSource", m.provider().origin().toString());
        o.put("available", m.provider().available());
        if (!m.provider().available()) {
          o.put("unavailableReason", m.provider().unavailableReason());
        }
        ObjectNode cost = o.putObject("cost");
        cost.put("input", m.cost().input());
        cost.put("output", m.cost().output());
        cost.put("cacheRead", m.cost().cacheRead());
        cost.put("cacheWrite", m.cost().cacheWrite());
      }
      return root;
    }
  }

  @Command(name = "status",
      description = "Ask every configured local provider what it serves; with --probe, make each model answer.")
  static final class Status implements Callable<Integer> {
    @ParentCommand ModelsCommand parent;

    @Option(names = "--probe", description = "Send each model a one-word request and time its first token.")
    boolean probe;

    @Option(names = "--timeout", description = "Seconds to wait for a model list (default: 5).")
    int timeoutSeconds = 5;

    @Override
    public Integer call() throws Exception {
      TalonConfig config = parent.root.loadConfig(null);
      PrintStream out = parent.root.out;
      List<Provider> local = config.catalog().providers().stream()
          .filter(p -> p.origin() == Provider.Origin.CONFIG && p.isLocal()).toList();
      if (local.isEmpty()) {
        out.println("no local providers configured (a provider is local when its baseUrl is on loopback or the LAN)");
        return 0;
      }
      ActorSystem<Void> system = TalonCli.clientSystem("talon-status");
      try {
        ModelProbe prober = new ModelProbe(system, new HttpModelClient(system, config.talon().upstream()),
            Duration.ofSeconds(timeoutSeconds));
        boolean healthy = true;
        for (Provider provider : local) {
          List<Model> models = config.catalog().models().stream().filter(m -> m.provider() == provider).toList();
          ModelProbe.ProviderStatus status = prober.check(provider, models, probe).toCompletableFuture().get();
          print(status, out);
          healthy &= status.healthy();
        }
        return healthy ? 0 : 1;
      } finally {
        // Stopped before the command returns: nothing of it runs, or logs, once its answer is out.
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().get(timeoutSeconds, TimeUnit.SECONDS);
      }
    }

    private void print(ModelProbe.ProviderStatus status, PrintStream out) {
      out.printf("%s  %s  %s  %s%n", status.provider().id(), status.server(), status.provider().baseUrl(),
          status.problem() == null ? "reachable (" + status.latencyMillis() + " ms)" : "UNREACHABLE: " + status.problem());
      for (ModelProbe.ModelStatus m : status.models()) {
        if (status.problem() != null) {
          continue;
        }
        StringBuilder line = new StringBuilder("  " + m.model().id());
        line.append(Boolean.TRUE.equals(m.present()) ? "  present" : "  MISSING");
        line.append(m.loaded() == null ? "" : m.loaded() ? "  loaded" : "  not loaded (loads on first request)");
        line.append(m.contextLength() == null ? "" : "  context " + m.contextLength());
        line.append(m.firstTokenMillis() >= 0 ? "  first token " + m.firstTokenMillis() + " ms" : "");
        if (m.problem() != null) {
          line.append("\n    ").append(m.problem());
        }
        out.println(line);
      }
    }
  }
}
