package dev.talon.config;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * An agent: its model, the fallbacks tried when that model fails, how its conversations are
 * kept within their models' context, and which MCP tools it may call.
 *
 * @param maxToolRounds how many times one turn may go back to the model with tool results
 */
public record Agent(String id, Model primary, List<Model> fallbacks, CompactionSettings compaction, ToolRules tools,
    int maxToolRounds) {
  public static final int DEFAULT_MAX_TOOL_ROUNDS = 8;

  public Agent {
    fallbacks = List.copyOf(fallbacks);
  }

  public Agent(String id, Model primary, List<Model> fallbacks, CompactionSettings compaction) {
    this(id, primary, fallbacks, compaction, ToolRules.NONE, DEFAULT_MAX_TOOL_ROUNDS);
  }

  public Agent(String id, Model primary, List<Model> fallbacks) {
    this(id, primary, fallbacks, CompactionSettings.DEFAULTS);
  }

  /** The models that write this agent's summaries, in order: the compaction model (or {@code turnModel}), then the chain. */
  public List<Model> summarisers(Model turnModel) {
    return candidates(compaction.model() != null ? compaction.model() : turnModel);
  }

  /**
   * The models to try for one turn, in order: the requested model (or the primary), then the
   * fallbacks, then the primary; each model once.
   */
  public List<Model> candidates(Model requested) {
    Map<String, Model> chain = new LinkedHashMap<>();
    chain.put((requested != null ? requested : primary).ref(), requested != null ? requested : primary);
    fallbacks.forEach(m -> chain.putIfAbsent(m.ref(), m));
    chain.putIfAbsent(primary.ref(), primary);
    return new ArrayList<>(chain.values());
  }

  /** Whether the agent may call MCP tools, which Talon then runs within its turns. */
  public boolean acts() {
    return !tools.allow().isEmpty();
  }

  /** The chain for a turn that asks for no particular model. */
  public List<Model> candidates() {
    return candidates(null);
  }
}
