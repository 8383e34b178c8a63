package dev.talon.conversation;

import dev.talon.config.Agent;
import dev.talon.config.Model;
import dev.talon.config.ModelCatalog;
import dev.talon.config.TalonSettings;
import dev.talon.config.UnknownModelException;
import dev.talon.conversation.ConversationEntity.TurnAccepted;
import dev.talon.upstream.ModelRequest;
import java.util.List;
import java.util.UUID;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.StreamRefs;

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

  List<Model> candidates() {
    return agent.candidates(requested);
  }

  /**
   * Runs {@code request} where nothing keeps it: no journal, no log to reconnect to. The
   * subscriber owns the turn, so one that goes away stops the upstream call.
   */
  TurnAccepted runUnstored(TurnRunner runner, ModelRequest request, TalonSettings.MidStream midStream,
      Materializer materializer) {
    String turnId = UUID.randomUUID().toString();
    return new TurnAccepted(turnId, runner.run(turnId, candidates(), request, midStream)
        .runWith(StreamRefs.sourceRef(), materializer));
  }
}
