package dev.talon.gateway;

import dev.talon.config.Agent;
import dev.talon.config.ModelCatalog;
import dev.talon.config.UnknownModelException;
import java.util.Optional;

/**
 * What a request's {@code model} (and OpenClaw's headers) select: an agent, and optionally a model
 * to try before the agent's chain.
 *
 * @param agentId null for the default agent
 * @param modelRef a canonical model ref, or null for the agent's primary
 * @param name what the client asked for, echoed back as the response's requested model
 */
record ModelChoice(String agentId, String modelRef, String name) {
  static final String OPENCLAW = "openclaw";

  /**
   * Accepts, in order: nothing or {@code openclaw} (the default agent), {@code openclaw/<agent>},
   * an agent id, a model ref or an alias. {@code x-openclaw-agent-id} picks the agent and
   * {@code x-openclaw-model} the model, as on an OpenClaw gateway.
   */
  static ModelChoice resolve(ModelCatalog catalog, String model, Optional<String> agentHeader,
      Optional<String> modelHeader) {
    String agentId = agentHeader.map(id -> knownAgent(catalog, id, "x-openclaw-agent-id")).orElse(null);
    String name = modelHeader.orElse(model);
    if (name == null || name.isBlank() || name.equals(OPENCLAW)) {
      return new ModelChoice(agentId, null, name == null || name.isBlank() ? OPENCLAW : name);
    }
    if (name.startsWith(OPENCLAW + "/")) {
      return new ModelChoice(knownAgent(catalog, name.substring(OPENCLAW.length() + 1), "model"), null, name);
    }
    if (agentId == null && catalog.agent(name).isPresent()) {
      return new ModelChoice(name, null, name);
    }
    try {
      return new ModelChoice(agentId, catalog.resolve(name).ref(), name);
    } catch (UnknownModelException e) {
      throw ApiError.notFound("model_not_found", modelHeader.isPresent() ? "x-openclaw-model" : "model",
          "The model '" + name + "' does not exist: " + e.getMessage() + " GET /v1/models lists what can be used.");
    }
  }

  /** The agent chosen, which {@link #resolve} made sure exists. */
  Agent agent(ModelCatalog catalog) {
    return agentId == null ? catalog.defaultAgent() : catalog.agent(agentId).orElseThrow();
  }

  private static String knownAgent(ModelCatalog catalog, String id, String param) {
    if (catalog.agent(id).isEmpty()) {
      throw ApiError.notFound("model_not_found", param, "No agent '" + id + "' is configured.");
    }
    return id;
  }
}
