package dev.talon.cli;

import dev.talon.config.ConfigException;
import dev.talon.config.GatewaySettings;
import dev.talon.config.Model;
import dev.talon.config.ModelCatalog;
import dev.talon.config.Provider;
import dev.talon.config.TalonConfig;
import dev.talon.upstream.HttpModelClient;
import dev.talon.upstream.ModelProbe;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.apache.pekko.actor.typed.ActorSystem;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/**
 * {@code talon doctor}: checks what {@code serve} and its turns depend on, one line per check
 * with a fix to try for each failure, so that a setup problem is found before a client meets it.
 */
@Command(name = "doctor",
    description = {"Check the config, every model server and model, the storage, the gateway port, auth and the"
        + " cluster's TLS: one line per check, with a fix to try for each failure.",
        "Exit 0 when all pass, 1 when any fails, 2 when the config is invalid."})
final class DoctorCommand implements Callable<Integer> {
  private static final String ERASE_LINE = "\r\u001b[K";

  @ParentCommand TalonCli root;

  @Option(names = "--port", description = "Gateway port to check (default: gateway.port, else 18789), as serve --port.")
  Integer port;

  @Option(names = "--timeout", paramLabel = "SECONDS", description = "Wait at most this long for each model server"
      + " (default: the provider's first-token timeout from the config).")
  Integer timeoutSeconds;

  private int failures;

  @Override
  public Integer call() throws Exception {
    Path file = root.configFile(null).toAbsolutePath().normalize();
    TalonConfig config;
    try {
      config = root.loadConfig(null);
    } catch (ConfigException e) {
      print(Check.fail("config " + file, e.errors().size() + " error(s)",
          "correct each one, printed as file:line:column on stderr"));
      e.errors().forEach(root.err::println);
      return TalonCli.CONFIG_ERROR;
    }
    print(Check.ok("config " + file, "loaded (" + config.catalog().providers().size() + " providers, "
        + config.catalog().models().size() + " models)"));
    config.notices().forEach(notice -> root.out.println("      " + notice));
    checkProviders(config);
    Path data = root.dataDir(config);
    print(LocalChecks.dataDirectory(data));
    print(LocalChecks.journal(config.talon().storage(), data));
    GatewaySettings gateway = port != null ? config.gateway().withPort(port) : config.gateway();
    print(LocalChecks.port("gateway port", gateway.bind(), gateway.port(), "gateway.port, or serve --port"));
    print(LocalChecks.auth(gateway));
    LocalChecks.cluster(config.talon().cluster(), gateway).forEach(this::print);
    root.out.println(failures == 0 ? "all checks passed" : failures + " check(s) failed");
    return failures == 0 ? 0 : 1;
  }

  private void print(Check check) {
    root.out.println(check.line(root.terminal && !root.env.containsKey("NO_COLOR")));
    if (check.failed()) {
      failures++;
    }
  }

  /** Each provider's model list, asked of all at once: a slow server holds up only its own lines. */
  private void checkProviders(TalonConfig config) throws InterruptedException, ExecutionException {
    ModelCatalog catalog = config.catalog();
    List<Provider> askable = catalog.providers().stream().filter(Provider::available).toList();
    ActorSystem<Void> system = askable.isEmpty() ? null : TalonCli.clientSystem("talon-doctor");
    try {
      Map<Provider, CompletableFuture<ModelProbe.ProviderStatus>> statuses = new LinkedHashMap<>();
      if (system != null) {
        HttpModelClient client = new HttpModelClient(system, config.talon().upstream());
        for (Provider provider : askable) {
          List<Model> models = catalog.models().stream().filter(m -> m.provider() == provider).toList();
          statuses.put(provider, new ModelProbe(system, client, timeout(config, provider))
              .check(provider, models, false).toCompletableFuture());
        }
      }
      for (Provider provider : catalog.providers()) {
        if (!provider.available()) {
          print(Check.skip(subject(provider), "skipped: no API key (" + provider.unavailableReason() + ")"));
          continue;
        }
        ModelProbe.ProviderStatus status =
            awaitShowing("probing " + provider.id() + " at " + provider.baseUrl(), statuses.get(provider));
        providerChecks(status, catalog).forEach(this::print);
      }
    } finally {
      if (system != null) {
        system.terminate();
      }
    }
  }

  /** As long as a turn would wait for the server's first token, unless --timeout says otherwise. */
  private Duration timeout(TalonConfig config, Provider provider) {
    return timeoutSeconds != null ? Duration.ofSeconds(timeoutSeconds) : config.talon().upstream().firstToken(provider);
  }

  /** Waits for {@code pending}, saying what for on a terminal's stderr meanwhile (and erasing it after). */
  private <T> T awaitShowing(String what, CompletableFuture<T> pending) throws InterruptedException,
      ExecutionException {
    boolean shown = root.terminal && !pending.isDone();
    if (shown) {
      root.err.print(what + " …");
      root.err.flush();
    }
    try {
      return pending.get();
    } finally {
      if (shown) {
        root.err.print(ERASE_LINE);
        root.err.flush();
      }
    }
  }

  private static String subject(Provider provider) {
    return "provider " + provider.id() + " (" + provider.baseUrl() + ")";
  }

  private static List<Check> providerChecks(ModelProbe.ProviderStatus status, ModelCatalog catalog) {
    Provider provider = status.provider();
    if (status.problem() != null) {
      return List.of(Check.fail(subject(provider), status.problem(), null)); // the probe's line says what to try
    }
    List<Check> checks = new ArrayList<>();
    checks.add(Check.ok(subject(provider), "reachable, " + status.server() + " (" + status.latencyMillis() + " ms)"));
    for (ModelProbe.ModelStatus model : status.models()) {
      String subject = "model " + model.model().ref();
      Optional<String> path = catalog.configPath(model.model());
      if (!Boolean.TRUE.equals(model.present())) {
        checks.add(Check.fail(subject, model.problem(), path
            .map(at -> "get " + status.server() + " to serve it, or correct " + at + ".id")
            .orElse("choose another model of provider " + provider.id())));
        continue;
      }
      checks.add(Check.ok(subject, "present"
          + (model.loaded() == null ? "" : model.loaded() ? ", loaded" : ", not loaded (loads on first request)")
          + (model.contextLength() == null ? "" : ", context " + model.contextLength())));
      if (model.contextLength() != null && model.model().contextBudget() > model.contextLength()) {
        checks.add(contextTooLarge(model.model(), model.contextLength(), status.server(), path));
      }
    }
    return checks;
  }

  /**
   * Talon fills prompts up to the configured context: beyond what the server takes, every long
   * conversation would end in the server's overflow errors instead of a compaction in time.
   */
  private static Check contextTooLarge(Model model, int served, String server, Optional<String> path) {
    boolean capped = model.contextTokens() != null;
    String key = capped ? "contextTokens" : "contextWindow";
    boolean byDefault = !capped && model.contextWindow() == Model.DEFAULT_CONTEXT_WINDOW;
    return Check.fail("context " + model.ref(), key + " " + model.contextBudget()
            + (byDefault ? " (the default when none is set)" : "") + " is more than the " + served + " tokens " + server
            + " reports for it",
        path.map(at -> "set " + at + "." + key + " to " + served + " or less")
            .orElse("add { id: \"" + model.id() + "\", contextWindow: " + served + " } to models.providers."
                + model.provider().id() + ".models"));
  }
}
