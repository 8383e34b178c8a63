package dev.talon.config;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import de.marhali.json5.Json5;
import de.marhali.json5.Json5Array;
import de.marhali.json5.Json5Element;
import de.marhali.json5.Json5Object;
import de.marhali.json5.Json5Primitive;
import de.marhali.json5.exception.Json5Exception;
import dev.talon.config.Model.Cost;
import dev.talon.config.Provider.Origin;
import java.io.IOException;
import java.math.BigInteger;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.Function;

/**
 * Reads an OpenClaw-style JSON5 config into a {@link TalonConfig}: the model catalog (configured
 * providers merged with the built-in hosted ones), agents with their fallback chains, and Talon's
 * own settings. Every error names its JSON path, line and column, and all are reported together.
 */
public final class ConfigLoader {
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
  private static final String DEFAULT_AGENT_ID = "main";
  /** A response-id secret shorter than this is guessable; 32 hex digits are 128 bits. */
  private static final int MIN_SECRET_CHARS = 32;

  /** Top-level keys of OpenClaw's schema that Talon keeps but does not use (yet). */
  private static final Set<String> OPENCLAW_KEYS = Set.of(
      "meta", "env", "wizard", "diagnostics", "logging", "update", "browser", "ui", "auth", "skills", "plugins",
      "messages", "commands", "session", "cron", "hooks", "web", "channels", "discovery", "canvasHost", "talk",
      "tools", "bindings", "broadcast", "audio", "approvals", "memory", "media", "nodeHost", "secrets", "identity");

  private final String source;
  private final Function<String, String> env;
  private Problems problems;
  /** Where each configured model is written, by ref, so that messages can point at it. */
  private final Map<String, String> modelPaths = new LinkedHashMap<>();
  /** Every agent's tool entries with where each is written, checked against the MCP servers once read. */
  private final List<Map.Entry<Cursor, ToolRules.Entry>> writtenToolEntries = new ArrayList<>();

  private ConfigLoader(String source, Function<String, String> env) {
    this.source = source;
    this.env = env;
  }

  public static TalonConfig load(Path file, Function<String, String> env) {
    String text;
    try {
      text = Files.readString(file, StandardCharsets.UTF_8);
    } catch (NoSuchFileException e) {
      throw single(file.toString(), "config file not found");
    } catch (IOException e) {
      throw single(file.toString(), "cannot read the config file: " + e.getMessage());
    }
    return parse(text, file.toString(), env);
  }

  public static TalonConfig parse(String text, String source, Function<String, String> env) {
    return new ConfigLoader(source, env).read(text);
  }

  private static ConfigException single(String source, String message) {
    return new ConfigException(List.of(new ConfigProblem(ConfigProblem.Severity.ERROR, source, "", 0, 0, message)));
  }

  private TalonConfig read(String text) {
    SourceMap map;
    try {
      map = SourceMap.scan(text);
    } catch (SourceMap.SyntaxError e) {
      throw new ConfigException(List.of(new ConfigProblem(ConfigProblem.Severity.ERROR, source, "", e.line, e.column,
          "invalid JSON5: " + e.getMessage())));
    }
    JsonNode root;
    try {
      root = toJackson(new Json5().parse(text));
    } catch (Json5Exception e) {
      throw single(source, "invalid JSON5: " + e.getMessage());
    }
    problems = new Problems(source, map);
    Cursor top = new Cursor(root, "", problems, env);
    if (!root.isObject()) {
      top.error("the config must be a JSON5 object");
      problems.throwIfErrors();
    }
    noticeIgnoredTopLevel(top);
    ModelCatalog catalog = catalog(top.get("models"), top.get("agents"));
    GatewaySettings gateway = gateway(top.get("gateway"), top.get("talon").get("cluster").get("drainSeconds"));
    TalonSettings talon = talon(top.get("talon"));
    checkToolServers(talon.mcp());
    problems.throwIfErrors();
    return new TalonConfig(source, catalog, gateway, talon, problems.notices());
  }

  private void noticeIgnoredTopLevel(Cursor top) {
    for (Map.Entry<String, Cursor> field : top.fields()) {
      String key = field.getKey();
      if (Set.of("models", "agents", "gateway", "talon").contains(key)) {
        continue;
      }
      field.getValue().notice(OPENCLAW_KEYS.contains(key)
          ? "OpenClaw setting that Talon does not use yet; kept and ignored"
          : "unknown key (not an OpenClaw or Talon setting); ignored");
    }
  }

  // ---- models -------------------------------------------------------------------------------

  private ModelCatalog catalog(Cursor modelsSection, Cursor agentsSection) {
    modelsSection.noticeUnknownKeys(Set.of("mode", "providers"));
    ModelCatalog.Mode mode = switch (modelsSection.get("mode").text("merge")) {
      case "merge" -> ModelCatalog.Mode.MERGE;
      case "replace" -> ModelCatalog.Mode.REPLACE;
      default -> {
        modelsSection.get("mode").error("expected \"merge\" or \"replace\"");
        yield ModelCatalog.Mode.MERGE;
      }
    };

    Map<String, BuiltInProviders.Entry> builtIns = new LinkedHashMap<>();
    BuiltInProviders.all(env).forEach(e -> builtIns.put(e.provider().id(), e));

    Map<String, BuiltInProviders.Entry> entries = new LinkedHashMap<>();
    for (Map.Entry<String, Cursor> field : modelsSection.get("providers").fields()) {
      String key = field.getKey().toLowerCase(Locale.ROOT);
      if (entries.containsKey(key)) {
        field.getValue().error("provider ids are case-insensitive: this one repeats another");
        continue;
      }
      BuiltInProviders.Entry builtIn = mode == ModelCatalog.Mode.MERGE ? builtIns.get(key) : null;
      entries.put(key, provider(field.getKey(), field.getValue(), builtIn));
    }
    if (mode == ModelCatalog.Mode.MERGE) {
      builtIns.forEach(entries::putIfAbsent);
    }

    Map<String, Provider> providers = new LinkedHashMap<>();
    Map<String, Model> models = new LinkedHashMap<>();
    entries.forEach((key, entry) -> {
      providers.put(key, entry.provider());
      entry.models().forEach(m -> models.put(m.ref(), m));
    });
    ModelCatalog withoutAgents =
        new ModelCatalog(mode, providers, models, modelPaths, Map.of(), Map.of(), DEFAULT_AGENT_ID);
    Map<String, String> aliases = aliases(agentsSection.get("defaults").get("models"), withoutAgents);
    ModelCatalog forRefs = new ModelCatalog(mode, providers, models, modelPaths, aliases, Map.of(), DEFAULT_AGENT_ID);
    Map<String, Agent> agents = new LinkedHashMap<>();
    String defaultAgent = agents(agentsSection, forRefs, agents);
    return new ModelCatalog(mode, providers, models, modelPaths, aliases, agents, defaultAgent);
  }

  private BuiltInProviders.Entry provider(String id, Cursor c, BuiltInProviders.Entry builtIn) {
    c.noticeUnknownKeys(Set.of("baseUrl", "apiKey", "api", "headers", "timeoutSeconds", "models"));
    Provider base = builtIn == null ? null : builtIn.provider();
    URI baseUrl = base == null ? null : base.baseUrl();
    if (c.get("baseUrl").present() || base == null) {
      baseUrl = url(c.get("baseUrl"));
    }
    Api api = c.get("api").present() ? api(c.get("api")) : base != null ? base.api() : Api.OPENAI_COMPLETIONS;

    Optional<String> apiKey = base == null ? Optional.empty() : base.apiKey();
    String unavailable = base == null ? null : base.unavailableReason();
    Cursor keyField = c.get("apiKey");
    if (keyField.present() && base != null && keyField.node.isTextual()) {
      // A built-in provider's key may name a variable that is not set: the provider is then
      // unavailable (its candidates fail over), not the whole config broken.
      try {
        apiKey = Optional.of(EnvSubstitution.apply(keyField.node.asText(), env));
        unavailable = null;
      } catch (EnvSubstitution.MissingVariable e) {
        apiKey = Optional.empty();
        unavailable = e.name + " is not set";
      }
    } else if (keyField.present()) {
      apiKey = Optional.ofNullable(keyField.text(null)).filter(k -> !k.isBlank());
    }
    Map<String, String> headers = c.get("headers").textMap();
    Integer timeoutSeconds = c.get("timeoutSeconds").positiveInt(null);
    Provider provider = new Provider(id, baseUrl == null ? URI.create("http://invalid") : baseUrl, api, apiKey, headers,
        timeoutSeconds == null ? (base == null ? null : base.timeout()) : Duration.ofSeconds(timeoutSeconds),
        Origin.CONFIG, unavailable);

    Map<String, Model> models = new LinkedHashMap<>();
    if (builtIn != null) {
      builtIn.models().forEach(m -> models.put(m.id(), m.withProvider(provider)));
    }
    Cursor modelList = c.get("models");
    if (!modelList.present() && builtIn == null) {
      modelList.error("required: list the models this provider serves, e.g. [{ id: \"my-model\" }]");
    }
    for (Cursor m : modelList.elements()) {
      Model model = model(m, provider);
      if (model == null) {
        continue;
      }
      Model previous = models.put(model.id(), model);
      if (previous != null && previous.origin() == Origin.CONFIG) {
        m.get("id").error("model \"" + model.id() + "\" is listed twice in this provider");
      }
    }
    return new BuiltInProviders.Entry(provider, List.copyOf(models.values()));
  }

  private URI url(Cursor c) {
    String text = c.requiredText();
    if (text == null) {
      return null;
    }
    try {
      URI uri = new URI(text.endsWith("/") ? text.substring(0, text.length() - 1) : text);
      if (!("http".equals(uri.getScheme()) || "https".equals(uri.getScheme())) || uri.getHost() == null) {
        c.error("expected an http:// or https:// URL with a host, got \"" + text + "\"");
        return null;
      }
      return uri;
    } catch (URISyntaxException e) {
      c.error("not a valid URL: " + e.getMessage());
      return null;
    }
  }

  private Api api(Cursor c) {
    String name = c.text(null);
    if (name == null) {
      return Api.OPENAI_COMPLETIONS;
    }
    return Api.fromConfigName(name).orElseGet(() -> {
      c.error("unsupported api \"" + name + "\"; supported: " + Api.supportedNames());
      return Api.OPENAI_COMPLETIONS;
    });
  }

  private Model model(Cursor c, Provider provider) {
    if (!c.node.isObject()) {
      c.error("expected a model object like { id: \"my-model\" }");
      return null;
    }
    c.noticeUnknownKeys(Set.of("id", "name", "api", "reasoning", "input", "cost", "contextWindow", "contextTokens",
        "maxTokens", "headers", "params", "compat"));
    String id = c.get("id").requiredText();
    Api api = c.get("api").present() ? api(c.get("api")) : provider.api();
    Cursor cost = c.get("cost");
    cost.noticeUnknownKeys(Set.of("input", "output", "cacheRead", "cacheWrite"));
    Cost prices = new Cost(cost.get("input").nonNegativeNumber(0), cost.get("output").nonNegativeNumber(0),
        cost.get("cacheRead").nonNegativeNumber(0), cost.get("cacheWrite").nonNegativeNumber(0));
    int contextWindow = c.get("contextWindow").positiveInt(Model.DEFAULT_CONTEXT_WINDOW);
    Integer contextTokens = c.get("contextTokens").positiveInt(null);
    int maxTokens = c.get("maxTokens").positiveInt(Model.DEFAULT_MAX_TOKENS);
    if (contextTokens != null && contextTokens > contextWindow) {
      c.get("contextTokens").error("must not exceed contextWindow (" + contextWindow + ")");
    }
    if (maxTokens >= contextWindow && c.get("maxTokens").present()) {
      c.get("maxTokens").error("must be smaller than contextWindow (" + contextWindow + ")");
    }
    // Compat flags stay as written; the ones Talon reads are checked here, where the path is known.
    c.get("compat").get(Model.THINK_TAGS).bool(true);
    Model model = new Model(provider, id, c.get("name").text(id), api, c.get("reasoning").bool(false),
        c.get("input").textList(List.of("text")), prices, contextWindow, contextTokens, maxTokens,
        c.get("headers").textMap(), c.get("params").objectNode(), c.get("compat").objectNode(), Origin.CONFIG);
    if (id == null) {
      return null;
    }
    modelPaths.put(model.ref(), c.path);
    return model;
  }

  // ---- agents -------------------------------------------------------------------------------

  private Map<String, String> aliases(Cursor section, ModelCatalog catalog) {
    Map<String, String> byRef = new LinkedHashMap<>();
    Map<String, String> seen = new LinkedHashMap<>();
    for (Map.Entry<String, Cursor> field : section.fields()) {
      Cursor entry = field.getValue();
      entry.noticeUnknownKeys(Set.of("alias", "params"));
      Model model = reference(field.getKey(), entry, catalog);
      String alias = entry.get("alias").text(null);
      if (model == null || alias == null) {
        continue;
      }
      String previous = seen.put(alias.toLowerCase(Locale.ROOT), model.ref());
      if (previous != null && !previous.equals(model.ref())) {
        entry.get("alias").error("alias \"" + alias + "\" is already used for " + previous);
      } else {
        byRef.put(model.ref(), alias);
      }
    }
    return byRef;
  }

  /** Resolves a ref written in the file, reporting a failure at {@code where}. */
  private Model reference(String ref, Cursor where, ModelCatalog catalog) {
    try {
      return catalog.resolve(ref);
    } catch (UnknownModelException e) {
      where.error(e.getMessage());
      return null;
    }
  }

  private String agents(Cursor section, ModelCatalog catalog, Map<String, Agent> out) {
    section.noticeUnknownKeys(Set.of("defaults", "list"));
    Cursor defaults = section.get("defaults");
    for (Map.Entry<String, Cursor> field : defaults.fields()) {
      if (!Set.of("model", "models", "compaction", "tools", "maxToolRounds").contains(field.getKey())) {
        field.getValue().notice("OpenClaw agent setting that Talon does not use yet; ignored");
      }
    }
    CompactionSettings compaction = compaction(defaults.get("compaction"), catalog);
    ToolRules defaultTools = toolRules(defaults.get("tools"), ToolRules.NONE);
    int defaultRounds = defaults.get("maxToolRounds").positiveInt(Agent.DEFAULT_MAX_TOOL_ROUNDS);
    ModelChoice inherited = modelChoice(defaults.get("model"), catalog, null);
    if (inherited.primary == null && !defaults.get("model").present()) {
      inherited = new ModelChoice(firstConfiguredModel(catalog, section), inherited.fallbacks);
    }
    String defaultId = null;
    for (Cursor entry : section.get("list").elements()) {
      String id = entry.get("id").requiredText();
      ModelChoice choice = modelChoice(entry.get("model"), catalog, inherited);
      if (id == null || choice.primary == null) {
        continue;
      }
      if (out.containsKey(id)) {
        entry.get("id").error("agent id \"" + id + "\" is used twice");
        continue;
      }
      out.put(id, new Agent(id, choice.primary, choice.fallbacks, compaction, toolRules(entry.get("tools"), defaultTools),
          entry.get("maxToolRounds").positiveInt(defaultRounds)));
      if (defaultId == null || entry.get("default").bool(false)) {
        defaultId = id;
      }
    }
    if (defaultId == null && inherited.primary != null) {
      defaultId = DEFAULT_AGENT_ID;
      out.put(defaultId, new Agent(defaultId, inherited.primary, inherited.fallbacks, compaction, defaultTools,
          defaultRounds));
    }
    return defaultId;
  }

  private CompactionSettings compaction(Cursor c, ModelCatalog catalog) {
    // OpenClaw's own keys (mode, reserveTokensFloor, memoryFlush, ...) are accepted and ignored.
    for (Map.Entry<String, Cursor> field : c.fields()) {
      if (!Set.of("enabled", "reserveTokens", "keepRecentTokens", "model", "maxSummaryChars").contains(field.getKey())) {
        field.getValue().notice("compaction setting that Talon does not use; ignored");
      }
    }
    CompactionSettings defaults = CompactionSettings.DEFAULTS;
    Model model = c.get("model").present() ? reference(c.get("model").text(""), c.get("model"), catalog) : null;
    return new CompactionSettings(c.get("enabled").bool(defaults.enabled()),
        nonNegativeInt(c.get("reserveTokens"), defaults.reserveTokens()),
        c.get("keepRecentTokens").positiveInt(defaults.keepRecentTokens()), model,
        c.get("maxSummaryChars").positiveInt(defaults.maxSummaryChars()));
  }

  /**
   * An agent's {@code tools}, over the defaults' ({@code inherited}): its own {@code allow}
   * replaces the defaults' list, while {@code deny} and {@code requireApproval} add to theirs, so
   * that no agent can lift a default deny or approval.
   */
  private ToolRules toolRules(Cursor c, ToolRules inherited) {
    if (!c.isObjectOrAbsent() || !c.present()) {
      return inherited;
    }
    c.noticeUnknownKeys(Set.of("allow", "deny", "requireApproval"));
    List<ToolRules.Entry> allow = c.get("allow").present() ? toolEntries(c.get("allow")) : inherited.allow();
    List<ToolRules.Entry> deny = new ArrayList<>(inherited.deny());
    deny.addAll(toolEntries(c.get("deny")));
    List<ToolRules.Entry> approval = new ArrayList<>(inherited.requireApproval());
    approval.addAll(toolEntries(c.get("requireApproval")));
    return new ToolRules(allow, deny, approval);
  }

  /** The entries of a tool list (each kept with where it is written, for {@link #checkToolServers}). */
  private List<ToolRules.Entry> toolEntries(Cursor list) {
    List<ToolRules.Entry> out = new ArrayList<>();
    for (Cursor element : list.elements()) {
      String text = element.text(null);
      if (text == null) {
        continue;
      }
      ToolRules.Entry.parse(text).ifPresentOrElse(entry -> {
        out.add(entry);
        writtenToolEntries.add(Map.entry(element, entry));
      }, () -> element.error("expected \"server/tool\" or \"server/*\" (a server id under talon.mcp.servers,"
          + " a slash, then a tool name or *), got \"" + text + "\""));
    }
    return out;
  }

  /**
   * Every tool entry must name a configured server: one that names none is most likely a typo,
   * which in an allow list leaves the agent without the tools it was meant to have, and in a
   * deny or approval list leaves a tool allowed, or run unasked, that was meant not to be.
   */
  private void checkToolServers(McpSettings mcp) {
    for (Map.Entry<Cursor, ToolRules.Entry> written : writtenToolEntries) {
      if (!mcp.ids().contains(written.getValue().server())) {
        written.getKey().error("no MCP server \"" + written.getValue().server() + "\" under talon.mcp.servers"
            + (mcp.ids().isEmpty() ? " (none is configured)" : "; configured: " + String.join(", ", mcp.ids())));
      }
    }
  }

  private record ModelChoice(Model primary, List<Model> fallbacks) {}

  /** {@code model: "ref"} or {@code model: {primary, fallbacks}}; what is absent is inherited. */
  private ModelChoice modelChoice(Cursor c, ModelCatalog catalog, ModelChoice inherited) {
    Model primary = inherited == null ? null : inherited.primary;
    List<Model> fallbacks = inherited == null ? List.of() : inherited.fallbacks;
    if (!c.present()) {
      return new ModelChoice(primary, fallbacks);
    }
    if (c.node.isTextual()) {
      return new ModelChoice(reference(c.text(""), c, catalog), fallbacks);
    }
    if (!c.node.isObject()) {
      c.error("expected a model ref string or { primary, fallbacks }");
      return new ModelChoice(primary, fallbacks);
    }
    c.noticeUnknownKeys(Set.of("primary", "fallbacks"));
    if (c.get("primary").present()) {
      primary = reference(c.get("primary").text(""), c.get("primary"), catalog);
    } else if (inherited == null) {
      c.get("primary").error("required: the model this agent uses first");
    }
    if (c.get("fallbacks").present()) {
      List<Model> listed = new ArrayList<>();
      for (Cursor ref : c.get("fallbacks").elements()) {
        Model model = reference(ref.text(""), ref, catalog);
        if (model != null) {
          listed.add(model);
        }
      }
      fallbacks = listed;
    }
    return new ModelChoice(primary, fallbacks);
  }

  /** With no agent model configured, the first model of the first configured provider. */
  private Model firstConfiguredModel(ModelCatalog catalog, Cursor agents) {
    return catalog.models().stream().filter(m -> m.provider().origin() == Origin.CONFIG).findFirst().orElseGet(() -> {
      if (problems.errors().isEmpty()) { // else the providers' own errors already explain it
        agents.get("defaults").get("model").error(
            "no model to run: set agents.defaults.model.primary or configure a provider under models.providers");
      }
      return null;
    });
  }

  // ---- Talon's own settings -----------------------------------------------------------------

  /** @param clusterDrain {@code talon.cluster.drainSeconds}, another name for {@code gateway.drainSeconds} */
  private GatewaySettings gateway(Cursor c, Cursor clusterDrain) {
    c.noticeUnknownKeys(Set.of("port", "bind", "auth", "mode", "maxBodyMegabytes", "exposeReasoning",
        "keepAliveSeconds", "allowedHosts", "allowedOrigins", "maxConcurrentTurns", "backlog", "askTimeoutSeconds",
        "bodyReadTimeoutSeconds", "responseIdSecret", "drainSeconds", "metrics"));
    Integer port = c.get("port").positiveInt(GatewaySettings.DEFAULT_PORT);
    if (port > 65535) {
      c.get("port").error("expected a TCP port from 1 to 65535");
    }
    String bind = switch (c.get("bind").text("loopback")) {
      case "loopback" -> "127.0.0.1";
      case "lan" -> "0.0.0.0";
      case "" -> {
        c.get("bind").error("expected \"loopback\", \"lan\" or an IP address");
        yield "127.0.0.1";
      }
      default -> c.get("bind").text("127.0.0.1");
    };
    Cursor auth = c.get("auth");
    auth.noticeUnknownKeys(Set.of("mode", "token"));
    Optional<String> token = Optional.ofNullable(auth.get("token").text(null))
        .or(() -> Optional.ofNullable(env.apply("TALON_GATEWAY_TOKEN")))
        .filter(t -> !t.isBlank());
    Optional<String> secret = Optional.ofNullable(c.get("responseIdSecret").text(null));
    if (secret.isPresent() && secret.get().length() < MIN_SECRET_CHARS) {
      c.get("responseIdSecret").error("expected at least " + MIN_SECRET_CHARS + " characters of random text,"
          + " e.g. from `openssl rand -hex 32`");
    }
    Cursor metrics = c.get("metrics");
    metrics.noticeUnknownKeys(Set.of("public"));
    GatewaySettings settings = new GatewaySettings(port, bind, token, c.get("exposeReasoning").bool(false),
        seconds(c.get("keepAliveSeconds"), GatewaySettings.DEFAULT_KEEP_ALIVE), browsers(c), limits(c, clusterDrain),
        secret, metrics.get("public").bool(false));
    if (settings.openBeyondLoopback()) {
      // An error here rather than a refusal at start: `config check` must not pass what `serve` refuses.
      c.get("bind").error("listening on " + bind + " without a token would open the API to anyone who can reach"
          + " it: set gateway.auth.token (or TALON_GATEWAY_TOKEN), or bind to \"loopback\"");
    }
    return settings;
  }

  private static GatewaySettings.Browsers browsers(Cursor c) {
    List<String> origins = c.get("allowedOrigins").textList(List.of());
    for (int i = 0; i < origins.size(); i++) {
      if (!origins.get(i).matches("https?://[^/?#\\s]+")) {
        c.get("allowedOrigins").elements().get(i).error("expected an origin such as \"http://localhost:3000\":"
            + " scheme and host, no path");
      }
    }
    return new GatewaySettings.Browsers(c.get("allowedHosts").textList(List.of()), origins);
  }

  private static GatewaySettings.Limits limits(Cursor c, Cursor clusterDrain) {
    if (clusterDrain.present() && c.get("drainSeconds").present()
        && !clusterDrain.node.equals(c.get("drainSeconds").node)) {
      clusterDrain.error("differs from gateway.drainSeconds; both name how long a stopping node lets"
          + " running turns finish, so set one");
    }
    GatewaySettings.Limits defaults = GatewaySettings.Limits.DEFAULTS;
    Integer maxBodyMegabytes = c.get("maxBodyMegabytes").positiveInt(null);
    return new GatewaySettings.Limits(
        maxBodyMegabytes == null ? defaults.maxBodyBytes() : maxBodyMegabytes * 1024L * 1024,
        c.get("maxConcurrentTurns").positiveInt(defaults.maxConcurrentTurns()),
        c.get("backlog").positiveInt(defaults.backlog()),
        seconds(c.get("askTimeoutSeconds"), defaults.askTimeout()),
        seconds(c.get("bodyReadTimeoutSeconds"), defaults.bodyReadTimeout()),
        seconds(clusterDrain, seconds(c.get("drainSeconds"), defaults.drain())));
  }

  private TalonSettings talon(Cursor c) {
    c.noticeUnknownKeys(Set.of("dataDir", "storage", "cluster", "upstream", "failover", "conversations",
        "retention", "mcp", "warmup"));
    Cursor storage = c.get("storage");
    storage.noticeUnknownKeys(Set.of("type", "url", "user", "password"));
    TalonSettings.Storage.Type type = switch (storage.get("type").text("h2")) {
      case "h2" -> TalonSettings.Storage.Type.H2;
      case "postgres" -> TalonSettings.Storage.Type.POSTGRES;
      default -> {
        storage.get("type").error("expected \"h2\" or \"postgres\"");
        yield TalonSettings.Storage.Type.H2;
      }
    };
    String url = storage.get("url").text(null);
    if (type == TalonSettings.Storage.Type.POSTGRES && url == null) {
      storage.get("url").error("required for postgres, e.g. \"jdbc:postgresql://127.0.0.1:5432/talon\"");
    }
    if (url != null && !url.startsWith("jdbc:")) {
      storage.get("url").error("expected a JDBC URL starting with jdbc:");
    }
    if (type == TalonSettings.Storage.Type.H2 && url != null) {
      // Talon adds these itself; other values would let a killed process lose answers clients already saw.
      for (var setting : TalonSettings.Storage.DURABLE_H2) {
        TalonSettings.Storage.h2Setting(url, setting.getKey())
            .filter(value -> !value.equalsIgnoreCase(setting.getValue()))
            .ifPresent(value -> storage.get("url").error(setting.getKey() + " must be " + setting.getValue()
                + " (or left out), not " + value + ": otherwise a killed or stopping process can lose answers its"
                + " clients already saw"));
      }
    }
    return new TalonSettings(c.get("dataDir").text(null),
        new TalonSettings.Storage(type, url, storage.get("user").text(null), storage.get("password").text("")),
        cluster(c.get("cluster"), type),
        upstream(c.get("upstream")), failover(c.get("failover")), conversations(c.get("conversations")),
        retention(c.get("retention")), mcp(c.get("mcp")), warmup(c.get("warmup")));
  }

  private static TalonSettings.Warmup warmup(Cursor c) {
    c.noticeUnknownKeys(Set.of("turns", "concurrency", "quietSeconds"));
    TalonSettings.Warmup defaults = TalonSettings.Warmup.DEFAULTS;
    return new TalonSettings.Warmup(nonNegativeInt(c.get("turns"), defaults.turns()),
        c.get("concurrency").positiveInt(defaults.concurrency()),
        Duration.ofSeconds(nonNegativeInt(c.get("quietSeconds"), (int) defaults.quiet().toSeconds())));
  }

  private TalonSettings.Cluster cluster(Cursor c, TalonSettings.Storage.Type storage) {
    c.noticeUnknownKeys(Set.of("host", "port", "seedNodes", "tls", "drainSeconds", "downAfterSeconds"));
    TalonSettings.Cluster defaults = TalonSettings.Cluster.SINGLE_NODE;
    String host = c.get("host").text(defaults.host());
    int port = c.get("port").present() ? c.get("port").positiveInt(0) : defaults.port();
    List<String> seeds = new ArrayList<>();
    for (Cursor seed : c.get("seedNodes").elements()) {
      String address = seedAddress(seed.text(""));
      if (address == null) {
        seed.error("expected \"host:port\" or \"pekko://talon@host:port\"");
      } else {
        seeds.add(address);
      }
    }
    if (!seeds.isEmpty() && storage == TalonSettings.Storage.Type.H2) {
      c.get("seedNodes").error("a cluster of several nodes needs talon.storage.type \"postgres\": the nodes must"
          + " share one journal, and the embedded H2 file belongs to a single process");
    }
    Optional<TalonSettings.Tls> tls = tls(c.get("tls"));
    if (tls.isEmpty() && !GatewaySettings.isLoopback(host)) {
      c.get("host").error("the cluster would listen on " + host + " unauthenticated: Pekko remoting trusts any"
          + " peer, so beyond loopback set talon.cluster.tls (key store and trust store, see the README)");
    }
    return new TalonSettings.Cluster(host, port, seeds, tls, seconds(c.get("downAfterSeconds"), defaults.downAfter()));
  }

  /** {@code host:port} or a full address, as a full address; null when it is neither. */
  private static String seedAddress(String seed) {
    String prefix = "pekko://" + TalonSettings.Cluster.SYSTEM_NAME + "@";
    String hostPort = seed.startsWith(prefix) ? seed.substring(prefix.length()) : seed;
    int colon = hostPort.lastIndexOf(':');
    if (colon <= 0 || !hostPort.substring(colon + 1).matches("[0-9]{1,5}") || hostPort.contains("/")) {
      return null;
    }
    return prefix + hostPort;
  }

  private static Optional<TalonSettings.Tls> tls(Cursor c) {
    if (!c.present() || !c.isObjectOrAbsent()) {
      return Optional.empty();
    }
    c.noticeUnknownKeys(Set.of("keyStore", "keyStorePassword", "keyPassword", "trustStore", "trustStorePassword"));
    String keyStorePassword = c.get("keyStorePassword").requiredText();
    return Optional.of(new TalonSettings.Tls(c.get("keyStore").requiredText(), keyStorePassword,
        c.get("keyPassword").text(keyStorePassword), c.get("trustStore").requiredText(),
        c.get("trustStorePassword").requiredText()));
  }

  private TalonSettings.Failover failover(Cursor c) {
    c.noticeUnknownKeys(Set.of("retries", "backoffInitialMs", "backoffMaxMs", "retryAfterCapSeconds",
        "cooldownSeconds", "overflowRetries", "midStream"));
    TalonSettings.Failover defaults = TalonSettings.Failover.DEFAULTS;
    List<Duration> cooldowns = defaults.cooldowns();
    if (c.get("cooldownSeconds").present()) {
      cooldowns = c.get("cooldownSeconds").elements().stream()
          .map(step -> step.positiveInt(null)).filter(java.util.Objects::nonNull)
          .map(Duration::ofSeconds).toList();
      if (cooldowns.isEmpty()) {
        c.get("cooldownSeconds").error("expected at least one step, e.g. [30, 60, 300]");
      }
    }
    return new TalonSettings.Failover(
        nonNegativeInt(c.get("retries"), defaults.retries()),
        millis(c.get("backoffInitialMs"), defaults.backoffInitial()),
        millis(c.get("backoffMaxMs"), defaults.backoffMax()),
        seconds(c.get("retryAfterCapSeconds"), defaults.retryAfterCap()),
        cooldowns,
        nonNegativeInt(c.get("overflowRetries"), defaults.overflowRetries()),
        midStream(c.get("midStream"), defaults.midStream()));
  }

  private static TalonSettings.MidStream midStream(Cursor c, TalonSettings.MidStream fallback) {
    String name = c.text(null);
    if (name == null) { // absent, or not a string (reported by text)
      return fallback;
    }
    TalonSettings.MidStream parsed = TalonSettings.MidStream.parse(name);
    if (parsed == null) {
      c.error("expected \"continue\" or \"restart\"");
      return fallback;
    }
    return parsed;
  }

  private TalonSettings.Conversations conversations(Cursor c) {
    c.noticeUnknownKeys(Set.of("snapshotEvery", "passivateAfterSeconds", "maxResident", "journalBackoffInitialMs",
        "journalBackoffMaxMs"));
    TalonSettings.Conversations defaults = TalonSettings.Conversations.DEFAULTS;
    Backoff backoff = backoff(c, "journalBackoff", defaults.journalBackoffInitial(), defaults.journalBackoffMax());
    return new TalonSettings.Conversations(c.get("snapshotEvery").positiveInt(defaults.snapshotEvery()),
        seconds(c.get("passivateAfterSeconds"), defaults.passivateAfter()),
        c.get("maxResident").positiveInt(defaults.maxResident()), backoff.initial, backoff.max);
  }

  private record Backoff(Duration initial, Duration max) {}

  /** {@code <name>InitialMs} and {@code <name>MaxMs} of {@code c}: a backoff, which must not shrink. */
  private static Backoff backoff(Cursor c, String name, Duration defaultInitial, Duration defaultMax) {
    Cursor initialKey = c.get(name + "InitialMs");
    Cursor maxKey = c.get(name + "MaxMs");
    Duration initial = millis(initialKey, defaultInitial);
    Duration max = millis(maxKey, defaultMax);
    if (max.compareTo(initial) < 0) {
      (maxKey.present() ? maxKey : initialKey).error(name + "MaxMs (" + max.toMillis() + ") must be at least " + name
          + "InitialMs (" + initial.toMillis() + ")");
    }
    return new Backoff(initial, max);
  }

  private TalonSettings.Retention retention(Cursor c) {
    c.noticeUnknownKeys(Set.of("anonymousDays", "sweepIntervalSeconds"));
    TalonSettings.Retention defaults = TalonSettings.Retention.DEFAULTS;
    Integer days = c.get("anonymousDays").positiveInt(null);
    return new TalonSettings.Retention(days == null ? defaults.keyless() : Duration.ofDays(days),
        seconds(c.get("sweepIntervalSeconds"), defaults.sweepInterval()));
  }

  private McpSettings mcp(Cursor c) {
    c.noticeUnknownKeys(Set.of("servers", "callTimeoutSeconds", "startTimeoutSeconds", "stopTimeoutSeconds",
        "maxResultChars", "restartBackoffInitialMs", "restartBackoffMaxMs", "allowedUrls", "approvalTimeoutSeconds",
        "requestedServerIdleSeconds"));
    McpSettings defaults = McpSettings.NONE;
    Duration callTimeout = seconds(c.get("callTimeoutSeconds"), defaults.callTimeout());
    Map<String, McpSettings.Server> servers = new LinkedHashMap<>();
    for (Map.Entry<String, Cursor> field : c.get("servers").fields()) {
      McpSettings.Transport transport = mcpTransport(field.getKey(), field.getValue());
      if (transport != null) {
        servers.put(field.getKey(), new McpSettings.Server(field.getKey(), transport,
            seconds(field.getValue().get("callTimeoutSeconds"), callTimeout)));
      }
    }
    Backoff restarts = backoff(c, "restartBackoff", defaults.restartBackoffInitial(), defaults.restartBackoffMax());
    List<URI> allowedUrls = new ArrayList<>();
    for (Cursor url : c.get("allowedUrls").elements()) {
      mcpUrl(url).ifPresent(allowedUrls::add);
    }
    return new McpSettings(servers, callTimeout, seconds(c.get("startTimeoutSeconds"), defaults.startTimeout()),
        seconds(c.get("stopTimeoutSeconds"), defaults.stopTimeout()),
        c.get("maxResultChars").positiveInt(defaults.maxResultChars()), restarts.initial, restarts.max, allowedUrls,
        seconds(c.get("approvalTimeoutSeconds"), defaults.approvalTimeout()),
        seconds(c.get("requestedServerIdleSeconds"), defaults.requestedServerIdle()));
  }

  /** A server is a command run over stdio or a Streamable HTTP URL, exactly one; null when it is neither. */
  private McpSettings.Transport mcpTransport(String id, Cursor c) {
    if (!ToolRules.Entry.SERVER_ID.matcher(id).matches()) {
      c.error("a server id may hold only letters, digits, _ and -: it names the server's tools, as in \"" + id
          + "/tool\"");
    }
    if (!c.node.isObject()) {
      c.error("expected { command, args?, env?, cwd? } or { url, headers? }");
      return null;
    }
    c.noticeUnknownKeys(Set.of("command", "args", "env", "cwd", "url", "headers", "callTimeoutSeconds"));
    boolean command = c.get("command").present();
    if (command == c.get("url").present()) {
      c.error(command ? "set command (a local process spoken to over stdio) or url (Streamable HTTP), not both"
          : "required: command (a local process spoken to over stdio) or url (a Streamable HTTP endpoint)");
      return null;
    }
    for (String key : command ? List.of("headers") : List.of("args", "env", "cwd")) {
      if (c.get(key).present()) {
        c.get(key).error("applies only to a server with " + (command ? "a url" : "a command") + "; this one has "
            + (command ? "a command" : "a url"));
      }
    }
    if (command) {
      String program = c.get("command").requiredText();
      McpSettings.Stdio stdio = new McpSettings.Stdio(program == null ? "" : program,
          c.get("args").textList(List.of()), c.get("env").textMap(), Optional.ofNullable(c.get("cwd").text(null)));
      return program == null ? null : stdio;
    }
    Map<String, String> headers = c.get("headers").textMap();
    return mcpUrl(c.get("url")).map(url -> new McpSettings.Http(url, headers)).orElse(null);
  }

  private static Optional<URI> mcpUrl(Cursor c) {
    String text = c.requiredText();
    if (text == null) {
      return Optional.empty();
    }
    Optional<URI> url = McpSettings.url(text);
    if (url.isEmpty()) {
      c.error("expected an http:// or https:// URL with a host, got \"" + text + "\"");
    }
    return url;
  }

  private static int nonNegativeInt(Cursor c, int fallback) {
    if (c.present() && c.node.isIntegralNumber() && c.node.asInt() == 0) {
      return 0;
    }
    return c.positiveInt(fallback);
  }

  private static Duration millis(Cursor c, Duration fallback) {
    Integer value = c.positiveInt(null);
    return value == null ? fallback : Duration.ofMillis(value);
  }

  private TalonSettings.Upstream upstream(Cursor c) {
    c.noticeUnknownKeys(Set.of("localFirstTokenTimeoutSeconds", "hostedFirstTokenTimeoutSeconds", "idleTimeoutSeconds"));
    TalonSettings.Upstream defaults = TalonSettings.Upstream.DEFAULTS;
    return new TalonSettings.Upstream(
        seconds(c.get("localFirstTokenTimeoutSeconds"), defaults.localFirstToken()),
        seconds(c.get("hostedFirstTokenTimeoutSeconds"), defaults.hostedFirstToken()),
        seconds(c.get("idleTimeoutSeconds"), defaults.idle()));
  }

  private static Duration seconds(Cursor c, Duration fallback) {
    Integer value = c.positiveInt(null);
    return value == null ? fallback : Duration.ofSeconds(value);
  }

  // ---- JSON5 to Jackson ---------------------------------------------------------------------

  private static JsonNode toJackson(Json5Element element) {
    if (element instanceof Json5Object object) {
      ObjectNode node = NODES.objectNode();
      object.entrySet().forEach(e -> node.set(e.getKey(), toJackson(e.getValue())));
      return node;
    }
    if (element instanceof Json5Array array) {
      var node = NODES.arrayNode();
      array.forEach(e -> node.add(toJackson(e)));
      return node;
    }
    if (element instanceof Json5Primitive primitive) {
      if (primitive.isBoolean()) {
        return NODES.booleanNode(primitive.getAsBoolean());
      }
      if (primitive.isString()) {
        return NODES.textNode(primitive.getAsString());
      }
      if (primitive.isNumber()) {
        return number(primitive.getAsNumber());
      }
    }
    return NODES.nullNode();
  }

  private static JsonNode number(Number n) {
    if (n instanceof BigInteger big) {
      return big.bitLength() < 64 ? NODES.numberNode(big.longValue()) : NODES.numberNode(big);
    }
    String text = n.toString();
    try {
      long value = Long.parseLong(text);
      return value == (int) value ? NODES.numberNode((int) value) : NODES.numberNode(value);
    } catch (NumberFormatException notIntegral) {
      return NODES.numberNode(n.doubleValue());
    }
  }
}
