package dev.talon.conversation;

import dev.talon.config.Agent;
import dev.talon.config.Model;
import dev.talon.config.ModelCatalog;
import dev.talon.config.TalonSettings;
import dev.talon.config.UnknownModelException;
import dev.talon.tools.RequestedServer;
import dev.talon.upstream.ModelRequest;
import java.util.List;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.javadsl.Source;

/**
 * Who answers a turn: the agent, the model the client asked for (null for the agent's primary),
 * and so the models to try in order.
 */
record TurnPlan(Agent agent, Model requested) {

  /** Why a turn cannot start: an unknown agent or model, or no input. */
  static final class Refused extends RuntimeException {
    Refused(String reason) {
      super(reason, null, false, false);
    }
  }

  /** @throws Refused when the turn cannot start, with a reason for the client */
  static TurnPlan of(ModelCatalog catalog, String agentId, String model, List<?> input) {
    Agent agent = agentId == null ? catalog.defaultAgent() : catalog.agent(agentId).orElse(null);
    if (agent == null) {
      throw new Refused("unknown agent \"" + agentId + "\"");
    }
    if (input.isEmpty()) {
      throw new Refused("the turn has no input");
    }
    try {
      return new TurnPlan(agent, model == null ? null : catalog.resolve(model));
    } catch (UnknownModelException e) {
      throw new Refused(e.getMessage());
    }
  }

  /**
   * Who would answer the turn after {@code last}: the same agent and requested model (the
   * default agent if the config no longer has it, the agent's primary if not the model).
   */
  static TurnPlan next(ModelCatalog catalog, ConversationEntity.Turn last) {
    Agent agent = last.agentId() == null ? null : catalog.agent(last.agentId()).orElse(null);
    Model requested = null;
    if (last.requestedModel() != null) {
      try {
        requested = catalog.resolve(last.requestedModel());
      } catch (UnknownModelException e) {
        // the config changed since: the agent's own chain answers
      }
    }
    return new TurnPlan(agent != null ? agent : catalog.defaultAgent(), requested);
  }

  /**
   * Whether the turn may call MCP tools, which Talon runs and journals: its agent's, or those of
   * {@code requested}, the servers its request names.
   */
  boolean acts(List<RequestedServer> requested) {
    return agent.acts() || !requested.isEmpty();
  }

  List<Model> candidates() {
    return agent.candidates(requested);
  }

  /** How a view of this turn compacts: the agent's settings, its summarisers for the first candidate. */
  ModelView.Compacting compacting() {
    return new ModelView.Compacting(agent.compaction(), agent.summarisers(candidates().get(0)));
  }

  /**
   * Runs {@code view} where nothing keeps it: no journal, no log to reconnect to. The subscriber
   * owns the turn, so one that goes away stops the upstream call.
   */
  Source<TurnEvent, NotUsed> runUnstored(TurnRunner runner, String turnId, ModelView view,
      TalonSettings.MidStream midStream) {
    return runner.run(turnId, candidates(), view, midStream);
  }
}
