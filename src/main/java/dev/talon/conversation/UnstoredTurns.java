package dev.talon.conversation;

import dev.talon.config.ModelCatalog;
import dev.talon.config.TalonSettings;
import dev.talon.conversation.ConversationEntity.Rejected;
import dev.talon.conversation.ConversationEntity.StartReply;
import dev.talon.conversation.ConversationEntity.TurnAccepted;
import dev.talon.tools.RequestedServer;
import dev.talon.upstream.ModelRequest;
import java.util.List;
import java.util.UUID;

/**
 * Turns of clients that keep their history themselves and ask Talon to store nothing (OpenAI's
 * {@code store: false} without a conversation to continue): the request is the whole context,
 * and the turn runs through the same failover runner as a conversation's, with the same events,
 * but no conversation, journal or log is involved.
 */
public final class UnstoredTurns {
  private final ModelCatalog catalog;
  private final TurnRunner runner;

  public UnstoredTurns(ModelCatalog catalog, TurnRunner runner) {
    this.catalog = catalog;
    this.runner = runner;
  }

  /**
   * @param agentId null for the default agent
   * @param model a model ref or alias to try first, or null for the agent's primary
   * @param midStream what becomes of text streamed before a model fails, or null for the node's setting
   * @param mcpServers the MCP servers the request names: a turn that may call tools is never unstored
   */
  public StartReply start(String agentId, String model, ModelRequest request, TalonSettings.MidStream midStream,
      List<RequestedServer> mcpServers) {
    try {
      // The client's request is its whole history: sent as it is, since nothing here could keep a summary.
      String turnId = UUID.randomUUID().toString();
      TurnPlan plan = TurnPlan.of(catalog, agentId, model, request.input());
      if (plan.acts(mcpServers)) {
        return new Rejected(ConversationEntity.UNSTORED_TOOLS);
      }
      return new TurnAccepted(turnId, TurnEvents.local(plan.runUnstored(runner, turnId, ModelView.of(request),
          midStream).map(List::of)));
    } catch (TurnPlan.Refused e) {
      return new Rejected(e.getMessage());
    }
  }
}
