package dev.talon.config;

import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * Every model Talon can call, with its aliases and agents. Model refs are {@code provider/model},
 * split at the first {@code /} (so {@code openrouter/moonshotai/kimi-k2} works); provider ids and
 * aliases match case-insensitively.
 */
public final class ModelCatalog {
  public enum Mode {
    MERGE,
    REPLACE
  }

  private final Mode mode;
  private final Map<String, Provider> providers; // by lower-case id
  private final Map<String, Model> models; // by ref, canonical spelling
  private final Map<String, String> configPaths; // by ref, for configured models
  private final Map<String, String> aliases; // lower-case alias -> ref
  private final Map<String, String> aliasByRef;
  private final Map<String, Agent> agents;
  private final String defaultAgentId;

  ModelCatalog(Mode mode, Map<String, Provider> providers, Map<String, Model> models, Map<String, String> configPaths,
      Map<String, String> aliasByRef, Map<String, Agent> agents, String defaultAgentId) {
    this.mode = mode;
    this.providers = Map.copyOf(providers);
    this.models = new LinkedHashMap<>(models);
    this.configPaths = Map.copyOf(configPaths);
    this.aliasByRef = new LinkedHashMap<>(aliasByRef);
    this.aliases = new LinkedHashMap<>();
    aliasByRef.forEach((ref, alias) -> aliases.put(alias.toLowerCase(Locale.ROOT), ref));
    this.agents = new LinkedHashMap<>(agents);
    this.defaultAgentId = defaultAgentId;
  }

  public Mode mode() {
    return mode;
  }

  public Collection<Model> models() {
    return models.values();
  }

  public List<Provider> providers() {
    List<String> order = models.values().stream().map(m -> m.provider().id().toLowerCase(Locale.ROOT)).distinct().toList();
    List<Provider> out = new ArrayList<>();
    order.forEach(id -> out.add(providers.get(id)));
    providers.forEach((id, p) -> {
      if (!order.contains(id)) {
        out.add(p);
      }
    });
    return out;
  }

  public Optional<Provider> provider(String id) {
    return Optional.ofNullable(providers.get(id.toLowerCase(Locale.ROOT)));
  }

  /**
   * Where a configured model is written, e.g. {@code models.providers.lmstudio.models[0]}, for a
   * message that tells the user what to change; empty for a model of the built-in catalog.
   */
  public Optional<String> configPath(Model model) {
    return Optional.ofNullable(configPaths.get(model.ref()));
  }

  public Optional<String> aliasOf(Model model) {
    return Optional.ofNullable(aliasByRef.get(model.ref()));
  }

  /** Each aliased model's ref, with its alias as written in the config. */
  public Map<String, String> aliases() {
    return Map.copyOf(aliasByRef);
  }

  public Collection<Agent> agents() {
    return agents.values();
  }

  public Optional<Agent> agent(String id) {
    return Optional.ofNullable(agents.get(id));
  }

  public Agent defaultAgent() {
    return agents.get(defaultAgentId);
  }

  /**
   * Resolves a ref, alias or bare model name. A bare name is tried as an alias, then as a model
   * id that is unique across providers.
   *
   * @throws UnknownModelException naming the candidates when nothing or several models match
   */
  public Model resolve(String name) {
    String wanted = name == null ? "" : name.trim();
    if (wanted.isEmpty()) {
      throw new UnknownModelException("empty model name");
    }
    String aliased = aliases.get(wanted.toLowerCase(Locale.ROOT));
    if (aliased != null) {
      return models.get(aliased);
    }
    int slash = wanted.indexOf('/');
    if (slash > 0) {
      Provider provider = providers.get(wanted.substring(0, slash).toLowerCase(Locale.ROOT));
      if (provider != null) {
        return inProvider(provider, wanted.substring(slash + 1));
      }
    }
    List<Model> byId = models.values().stream().filter(m -> m.id().equals(wanted)).toList();
    if (byId.isEmpty()) {
      byId = models.values().stream().filter(m -> m.id().equalsIgnoreCase(wanted)).toList();
    }
    if (byId.size() == 1) {
      return byId.get(0);
    }
    if (byId.size() > 1) {
      throw new UnknownModelException("\"" + wanted + "\" is ambiguous: it names " + refs(byId)
          + "; write the full provider/model ref");
    }
    if (slash > 0) {
      throw new UnknownModelException("unknown provider \"" + wanted.substring(0, slash) + "\" in \"" + wanted
          + "\"; providers: " + String.join(", ", providers.values().stream().map(Provider::id).sorted().toList()));
    }
    throw new UnknownModelException("unknown model \"" + wanted + "\"; use a provider/model ref or an alias ("
        + String.join(", ", aliasByRef.values()) + ")");
  }

  private Model inProvider(Provider provider, String modelId) {
    Model model = models.get(provider.id() + "/" + modelId);
    if (model != null) {
      return model;
    }
    List<Model> caseInsensitive = models.values().stream()
        .filter(m -> m.provider() == provider && m.id().equalsIgnoreCase(modelId)).toList();
    if (caseInsensitive.size() == 1) {
      return caseInsensitive.get(0);
    }
    if (provider.origin() == Provider.Origin.BUILT_IN) {
      // Hosted providers serve far more models than the built-in list; let any id through.
      return BuiltInProviders.uncatalogued(provider, modelId);
    }
    List<Model> known = models.values().stream().filter(m -> m.provider() == provider).toList();
    throw new UnknownModelException("provider \"" + provider.id() + "\" has no model \"" + modelId + "\"; it has "
        + (known.isEmpty() ? "none" : refs(known)));
  }

  private static String refs(List<Model> models) {
    return models.stream().map(Model::ref).collect(Collectors.joining(", "));
  }
}
