package dev.talon.cluster;

import dev.talon.config.TalonSettings;
import dev.talon.conversation.ConversationEntity;
import dev.talon.conversation.ConversationEntity.CancelReply;
import dev.talon.conversation.ConversationEntity.CancelTurn;
import dev.talon.conversation.ConversationEntity.Command;
import dev.talon.conversation.ConversationEntity.GetTranscript;
import dev.talon.conversation.ConversationEntity.Reset;
import dev.talon.conversation.ConversationEntity.StartReply;
import dev.talon.conversation.ConversationEntity.StartTurn;
import dev.talon.conversation.ConversationEntity.Subscribe;
import dev.talon.conversation.ConversationEntity.SubscribeReply;
import dev.talon.conversation.ConversationEntity.Transcript;
import dev.talon.upstream.ModelRequest;
import java.time.Duration;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.Done;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityRef;

/**
 * Talks to conversations by session key, wherever in the cluster they live. Every call answers
 * within the ask timeout or fails with a {@code TimeoutException}.
 */
public final class Conversations {
  private final ClusterSharding sharding;
  private final Duration askTimeout;

  public Conversations(ClusterSharding sharding, Duration askTimeout) {
    this.sharding = sharding;
    this.askTimeout = askTimeout;
  }

  /**
   * Starts a turn: {@code turn} holds the new input and this turn's instructions and options;
   * the conversation adds what came before.
   *
   * @param agentId null for the default agent
   * @param model a model ref or alias to try first, or null for the agent's primary
   * @param midStream what becomes of text streamed before a model fails, or null for the node's setting
   */
  public CompletionStage<StartReply> startTurn(String sessionKey, String agentId, String model, ModelRequest turn,
      TalonSettings.MidStream midStream) {
    return conversation(sessionKey).ask(replyTo -> StartTurn.of(agentId, model, turn, midStream, replyTo), askTimeout);
  }

  /** Cancels the running turn; {@code turnId} null means whichever is running. */
  public CompletionStage<CancelReply> cancel(String sessionKey, String turnId) {
    return conversation(sessionKey).ask(replyTo -> new CancelTurn(turnId, replyTo), askTimeout);
  }

  /** The running or last turn's events from {@code fromIndex} on, then live. */
  public CompletionStage<SubscribeReply> subscribe(String sessionKey, String turnId, int fromIndex) {
    return conversation(sessionKey).ask(replyTo -> new Subscribe(turnId, fromIndex, replyTo), askTimeout);
  }

  public CompletionStage<Transcript> transcript(String sessionKey) {
    return conversation(sessionKey).ask(GetTranscript::new, askTimeout);
  }

  public CompletionStage<Done> reset(String sessionKey) {
    return conversation(sessionKey).ask(Reset::new, askTimeout);
  }

  private EntityRef<Command> conversation(String sessionKey) {
    if (sessionKey == null || sessionKey.isBlank()) {
      throw new IllegalArgumentException("a session key is required");
    }
    return sharding.entityRefFor(ConversationEntity.TYPE_KEY, sessionKey);
  }
}
