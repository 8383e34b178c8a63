package dev.talon.cluster;

import dev.talon.config.ModelCatalog;
import dev.talon.config.TalonSettings;
import dev.talon.conversation.ConversationEntity;
import dev.talon.conversation.ConversationEntity.Approve;
import dev.talon.conversation.ConversationEntity.ApproveReply;
import dev.talon.conversation.ConversationEntity.CancelReply;
import dev.talon.conversation.ConversationEntity.CancelTurn;
import dev.talon.conversation.ConversationEntity.Command;
import dev.talon.conversation.ConversationEntity.Delete;
import dev.talon.conversation.ConversationEntity.GetTranscript;
import dev.talon.conversation.ConversationEntity.Parceled;
import dev.talon.conversation.ConversationEntity.StartReply;
import dev.talon.conversation.ConversationEntity.StartTurn;
import dev.talon.conversation.ConversationEntity.Subscribe;
import dev.talon.conversation.ConversationEntity.SubscribeReply;
import dev.talon.conversation.ConversationEntity.Transcript;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.conversation.NodeMetrics;
import dev.talon.conversation.Parcels;
import dev.talon.conversation.Presentation;
import dev.talon.conversation.TurnRunner;
import dev.talon.conversation.UnstoredTurns;
import dev.talon.tools.RequestedServer;
import dev.talon.upstream.ModelRequest;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.RecipientRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityContext;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * Talks to conversations by session key, wherever in the cluster they live. Every call answers
 * within the ask timeout or fails with a {@code TimeoutException}.
 */
public final class Conversations {
  private final ActorSystem<?> system;
  private final Duration askTimeout;
  private final UnstoredTurns unstored;
  private final JournalTranscripts journal;
  private final JournalRows rows;
  private final Cluster cluster;
  private final Parcels parcels;
  /** How this node makes a conversation, given the models its turns call. */
  private final Factory factory;
  /** Where a conversation's commands go, by session key. */
  private final Function<String, RecipientRef<Command>> entities;

  /** Makes a conversation that answers with {@code catalog}'s models through {@code runner}. */
  @FunctionalInterface
  interface Factory {
    Behavior<Command> create(EntityContext<Command> entity, ModelCatalog catalog, TurnRunner runner,
        NodeMetrics metrics);
  }

  /** The node's conversations: sharded across the cluster, answering with the configured models. */
  Conversations(ActorSystem<?> system, Duration askTimeout, UnstoredTurns unstored, JournalTranscripts journal,
      JournalRows rows, Factory factory) {
    this(system, askTimeout, unstored, journal, rows, factory,
        key -> ClusterSharding.get(system).entityRefFor(ConversationEntity.TYPE_KEY, key));
  }

  private Conversations(ActorSystem<?> system, Duration askTimeout, UnstoredTurns unstored,
      JournalTranscripts journal, JournalRows rows, Factory factory, Function<String, RecipientRef<Command>> entities) {
    this.system = system;
    this.cluster = Cluster.get(system);
    this.parcels = Parcels.of(system);
    this.askTimeout = askTimeout;
    this.unstored = unstored;
    this.journal = journal;
    this.rows = rows;
    this.factory = factory;
    this.entities = entities;
  }

  /**
   * Conversations of the start-up rehearsal, whose turns call {@code catalog}'s stand-in models
   * through {@code runner} and count in {@code metrics}. Stored ones are journaled as a client's
   * are, but each lives on this node alone: sharded, it could start on another node, whose
   * rehearsal calls a stand-in model of its own, long gone. {@link Rehearsal#erase} erases them.
   */
  public Rehearsal rehearsal(ModelCatalog catalog, TurnRunner runner, NodeMetrics metrics) {
    Set<String> started = ConcurrentHashMap.newKeySet();
    Map<String, ActorRef<Command>> inMemory = new ConcurrentHashMap<>();
    AtomicInteger incarnations = new AtomicInteger();
    String name = "talon-rehearsal-" + UUID.randomUUID();
    ActorRef<ClusterSharding.ShardCommand> shard = system.systemActorOf(standInShard(inMemory), name + "-shard",
        Props.empty());
    Function<String, RecipientRef<Command>> local = key -> {
      started.add(key);
      return inMemory.computeIfAbsent(key, k -> system.systemActorOf(
          factory.create(new EntityContext<>(ConversationEntity.TYPE_KEY, k, shard), catalog, runner, metrics),
          name + "-" + incarnations.incrementAndGet(), Props.empty()));
    };
    return new Rehearsal(new Conversations(system, askTimeout, new UnstoredTurns(catalog, metrics.counting(runner)),
        journal, rows, factory, local), started);
  }

  /**
   * What the rehearsal's conversations have for a shard: one that asks to leave memory (after its
   * turn on a crowded node, or once erased) is stopped the way a shard stops it, and the next
   * command for its key starts it again, reading it back from the journal.
   */
  private static Behavior<ClusterSharding.ShardCommand> standInShard(Map<String, ActorRef<Command>> inMemory) {
    return Behaviors.receiveMessage(command -> {
      if (command instanceof ClusterSharding.Passivate<?> passivate) {
        ActorRef<Command> conversation = passivate.entity().unsafeUpcast();
        inMemory.values().remove(conversation);
        conversation.tell(ConversationEntity.HandOff.INSTANCE);
      }
      return Behaviors.same();
    });
  }

  /** The start-up rehearsal's conversations, and the keys of those it started. */
  public static final class Rehearsal {
    private final Conversations conversations;
    private final Set<String> started;

    private Rehearsal(Conversations conversations, Set<String> started) {
      this.conversations = conversations;
      this.started = started;
    }

    public Conversations conversations() {
      return conversations;
    }

    /**
     * Erases every conversation the rehearsal started, one after the other; each then stops.
     * Completes with their number.
     */
    public CompletionStage<Integer> erase() {
      List<String> keys = List.copyOf(started);
      CompletionStage<Done> erased = CompletableFuture.completedFuture(Done.getInstance());
      for (String key : keys) {
        erased = erased.thenCompose(done -> conversations.delete(key));
      }
      return erased.thenApply(done -> keys.size());
    }
  }

  /**
   * A turn as a client asks for it: {@code turn} holds the new input and this turn's
   * instructions and options; a conversation adds what came before.
   *
   * @param keyless the client named no conversation, so {@code sessionKey} was made up for it
   * @param previousTurnId when set, the turn starts only if this is the conversation's latest
   * @param store false: nothing of this turn is kept
   * @param agentId null for the default agent
   * @param model a model ref or alias to try first, or null for the agent's primary
   * @param midStream what becomes of text streamed before a model fails, or null for the node's setting
   * @param presentation kept with the turn for whoever reads it back, or null
   * @param mcpServers the MCP servers the request names, whose tools the turn may call too
   */
  public record NewTurn(String sessionKey, boolean keyless, String previousTurnId, boolean store, String agentId,
      String model, ModelRequest turn, TalonSettings.MidStream midStream,
      Presentation presentation, List<RequestedServer> mcpServers) {

    /** The conversation that takes part in the turn; null when there is none to continue and nothing to keep. */
    public String conversationKey() {
      return keyless && !store ? null : sessionKey;
    }
  }

  public CompletionStage<StartReply> startTurn(NewTurn turn) {
    if (turn.conversationKey() == null) {
      return CompletableFuture.completedFuture(
          unstored.start(turn.agentId(), turn.model(), turn.turn(), turn.midStream(), turn.mcpServers()));
    }
    return ask(turn.sessionKey(), replyTo -> forTheWire(StartTurn.of(turn.agentId(), turn.model(),
        turn.turn(), turn.previousTurnId(), turn.store(), turn.keyless(), turn.midStream(), turn.presentation(),
        turn.mcpServers(), replyTo)));
  }

  /**
   * The command itself, or parceled when it may go to another node and would not fit one remoting
   * frame. A node alone sends nothing over the wire, so it does not even measure.
   */
  private Command forTheWire(Command command) {
    if (cluster.state().members().size() < 2) {
      return command;
    }
    return parcels.ifTooLargeForAFrame(command).<Command>map(Parceled::new).orElse(command);
  }

  /** A stored turn of the conversation the client named {@code sessionKey}. */
  public CompletionStage<StartReply> startTurn(String sessionKey, String agentId, String model, ModelRequest turn,
      TalonSettings.MidStream midStream) {
    return startTurn(new NewTurn(sessionKey, false, null, true, agentId, model, turn, midStream, null, List.of()));
  }

  /** Cancels the running turn; {@code turnId} null means whichever is running. */
  public CompletionStage<CancelReply> cancel(String sessionKey, String turnId) {
    return ask(sessionKey, replyTo -> new CancelTurn(turnId, replyTo));
  }

  /**
   * A person's answer to the calls of the running turn {@code turnId} that wait for approval: the
   * one named {@code callId}, or all of them when it is null.
   *
   * @param reason why the calls are turned down, told to the model; may be null
   */
  public CompletionStage<ApproveReply> approve(String sessionKey, String turnId, String callId, boolean approved,
      String reason) {
    return ask(sessionKey, replyTo -> new Approve(turnId, callId, approved, reason, replyTo));
  }

  /** The running or last turn's events from {@code fromIndex} on, then live. */
  public CompletionStage<SubscribeReply> subscribe(String sessionKey, String turnId, int fromIndex) {
    return ask(sessionKey, replyTo -> new Subscribe(turnId, fromIndex, replyTo));
  }

  /** The turns the conversation holds in memory: those its model view shows, and the running one. */
  public CompletionStage<Transcript> transcript(String sessionKey) {
    return ask(sessionKey, GetTranscript::new).thenCompose(transcript ->
        transcript.parceled() == null ? CompletableFuture.completedFuture(transcript)
            : parcels.receive(transcript.parceled(), Transcript.class));
  }

  /** The model view's size against the budget of the model the next turn would call. */
  public CompletionStage<ConversationEntity.Context> context(String sessionKey) {
    return ask(sessionKey, ConversationEntity.GetContext::new);
  }

  /**
   * The turn {@code turnId}: from the conversation's memory when it is there (a turn that runs is
   * only there), else from the journal, which holds every turn.
   */
  public CompletionStage<Optional<Turn>> turn(String sessionKey, String turnId) {
    return transcript(sessionKey).thenCompose(held -> {
      Optional<Turn> turn = held.turns().stream().filter(t -> t.turnId().equals(turnId)).findFirst();
      return turn.isPresent() ? CompletableFuture.completedFuture(turn)
          : journal.turn(JournalTranscripts.persistenceId(sessionKey), turnId);
    });
  }

  /** The turns numbered after {@code after} (from 1), at most {@code limit}, read from the journal. */
  public CompletionStage<JournalTranscripts.Page> page(String sessionKey, int after, int limit) {
    conversation(sessionKey); // checks the key
    return journal.page(JournalTranscripts.persistenceId(sessionKey), after, limit);
  }

  /** A conversation in the list: its key, its turns, and when the journal last took a write of it. */
  public record Listed(String sessionKey, int turnCount, Instant lastActivity) {}

  /**
   * Where a page of the list starts: after the conversation {@code sessionKey}, whose last
   * activity was {@code lastActivity} when the previous page was read.
   */
  public record ListPosition(Instant lastActivity, String sessionKey) {}

  /**
   * @param next where the next page starts: after the last conversation read, or null when none was
   * @param more whether conversations follow this page
   */
  public record Listing(List<Listed> conversations, boolean more, ListPosition next) {}

  /**
   * The conversations clients named (keyless ones are left out), the most recently active first,
   * at most {@code limit} after {@code after} (null: from the newest). Which conversations exist and
   * when they were last written is read from the journal; each one's turn count is asked of the
   * conversation itself, as the transcript's is, so those of the page are brought into memory.
   */
  public CompletionStage<Listing> list(ListPosition after, int limit) {
    JournalRows.LastWrite from = after == null ? null : new JournalRows.LastWrite(
        JournalTranscripts.persistenceId(after.sessionKey()), after.lastActivity().toEpochMilli());
    return rows.namedByLastWrite(from, limit + 1).thenCompose(written -> {
      List<JournalRows.LastWrite> page = written.subList(0, Math.min(limit, written.size()));
      List<CompletableFuture<Listed>> listed = page.stream().map(row -> {
        String key = JournalTranscripts.sessionKey(row.persistenceId());
        return context(key).thenApply(context -> new Listed(key, context.turnCount(),
            Instant.ofEpochMilli(row.millis()))).toCompletableFuture();
      }).toList();
      ListPosition next = page.isEmpty() ? null : new ListPosition(
          Instant.ofEpochMilli(page.get(page.size() - 1).millis()),
          JournalTranscripts.sessionKey(page.get(page.size() - 1).persistenceId()));
      return CompletableFuture.allOf(listed.toArray(CompletableFuture[]::new)).thenApply(done -> new Listing(
          // a journal of only a reset of earlier versions holds no turn: no conversation, as for its transcript
          listed.stream().map(CompletableFuture::join).filter(entry -> entry.turnCount() > 0).toList(),
          written.size() > limit, next));
    });
  }

  /**
   * Compacts the conversation now: {@code TurnAccepted} with the compaction's events (ending
   * with Compacted or Failed), {@code Busy} while a turn runs, {@code Rejected} when it has no turns.
   *
   * @param focus what the summary should dwell on, or null
   */
  public CompletionStage<StartReply> compact(String sessionKey, String focus) {
    return ask(sessionKey, replyTo -> new ConversationEntity.Compact(focus, replyTo));
  }

  /** Erases the conversation (cancelling a running turn); the key then starts afresh. */
  public CompletionStage<Done> delete(String sessionKey) {
    return expire(sessionKey, null);
  }

  /** Erases the conversation unless it ran a turn after {@code unusedSince}. */
  CompletionStage<Done> expire(String sessionKey, Instant unusedSince) {
    return AskPattern.askWithStatus(conversation(sessionKey), replyTo -> new Delete(unusedSince, replyTo), askTimeout,
        system.scheduler());
  }

  private <T> CompletionStage<T> ask(String sessionKey, Function<ActorRef<T>, Command> command) {
    return AskPattern.ask(conversation(sessionKey), command::apply, askTimeout, system.scheduler());
  }

  private RecipientRef<Command> conversation(String sessionKey) {
    if (sessionKey == null || sessionKey.isBlank()) {
      throw new IllegalArgumentException("a session key is required");
    }
    return entities.apply(sessionKey);
  }
}
