package dev.talon.conversation;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import dev.talon.compaction.TokenEstimate;
import dev.talon.config.Model;
import dev.talon.config.ModelCatalog;
import dev.talon.config.TalonSettings;
import dev.talon.conversation.OutputItem.McpCall;
import dev.talon.tools.McpServers;
import dev.talon.tools.ToolCall;
import dev.talon.tools.RequestedServer;
import dev.talon.tools.ToolPolicy;
import dev.talon.tools.Toolbox;
import dev.talon.upstream.ModelRequest;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletionStage;
import java.util.function.Consumer;
import java.util.function.Predicate;
import org.apache.pekko.NotUsed;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.PreRestart;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityContext;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityTypeKey;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.pattern.StatusReply;
import org.apache.pekko.persistence.typed.PersistenceId;
import org.apache.pekko.persistence.typed.RecoveryCompleted;
import org.apache.pekko.persistence.typed.javadsl.CommandHandler;
import org.apache.pekko.persistence.typed.javadsl.CommandHandlerBuilder;
import org.apache.pekko.persistence.typed.javadsl.Effect;
import org.apache.pekko.persistence.typed.javadsl.EventHandler;
import org.apache.pekko.persistence.typed.javadsl.EventSourcedBehavior;
import org.apache.pekko.persistence.typed.javadsl.RetentionCriteria;
import org.apache.pekko.persistence.typed.javadsl.SignalHandler;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.SourceRef;
import org.apache.pekko.stream.UniqueKillSwitch;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;

/**
 * One conversation, addressed by its session key: the journal holds whole turns (input, then
 * outcome), never tokens. At most one turn runs at a time. The entity itself consumes the turn
 * runner's stream into a {@link TurnLog}, so a subscriber that goes away does not stop the turn:
 * the answer is journaled and can be read later.
 *
 * <p>What the model sees (the <em>model view</em>): the latest compaction's summary, then every
 * later turn's input, plus the output of the turns that completed. The input of a turn that
 * failed, was cancelled or was interrupted stays in the view, because the user did say it; its
 * partial output does not. The state holds the view, not the whole history: turns folded into a
 * summary leave memory and snapshots, and are read back from the journal ({@link JournalReader}).
 *
 * <p>A turn that would not fit its model is compacted first, inside the turn (see
 * {@link FailoverRunner}); a turn that leaves the view over the budget of the model the next
 * turn would call starts a compaction right away, in the background, which the next turn
 * cancels if it comes first.
 *
 * <p>An agent that may use MCP tools acts within its turn: each model call's tool calls are
 * journaled ({@link ToolCallStarted}) before they run, each as a child with its own deadline,
 * and their results ({@link ToolCallFinished}) go back to the model, until it answers (see
 * {@link ToolLoop}). A call that a crash cut off is journaled as interrupted when the
 * conversation recovers, never run again; the model sees it so.
 */
public final class ConversationEntity
    extends EventSourcedBehavior<ConversationEntity.Command, ConversationEntity.Event, ConversationEntity.State> {

  public static final EntityTypeKey<Command> TYPE_KEY = EntityTypeKey.create(Command.class, "Conversation");

  // ---- commands and replies ------------------------------------------------------------------

  public sealed interface Command extends JsonSerializable {}

  /**
   * Starts a turn with {@code input} appended to the conversation; an {@code input} that begins
   * with the whole conversation brings only what follows it (see {@link ResentHistory}).
   *
   * @param agentId null means the default agent
   * @param model a model ref or alias to try first, or null for the agent's primary
   * @param previousTurnId when set, the turn starts only if this is the conversation's latest turn
   * @param store false: the model sees the conversation so far, but nothing of this turn is kept
   * @param keyless the client named no conversation: its session key was made up, and the
   *     conversation expires (see {@link #KEYLESS_TAG})
   * @param midStream what becomes of text streamed before a model fails, or null for the node's setting
   * @param presentation kept with the turn for the gateway, or null
   * @param mcpServers MCP servers the request names, whose tools the turn may call besides its
   *     agent's; never journaled (their headers may hold the client's credentials)
   */
  public record StartTurn(
      String agentId,
      String model,
      List<InputItem> input,
      String instructions,
      List<ModelRequest.Tool> tools,
      String toolChoice,
      Integer maxOutputTokens,
      Double temperature,
      String reasoningEffort,
      String previousTurnId,
      boolean store,
      boolean keyless,
      TalonSettings.MidStream midStream,
      Presentation presentation,
      List<RequestedServer> mcpServers,
      ActorRef<StartReply> replyTo) implements Command {

    public StartTurn {
      mcpServers = mcpServers == null ? List.of() : List.copyOf(mcpServers);
    }

    /** A turn whose new input and options are those of {@code turn}. */
    public static StartTurn of(String agentId, String model, ModelRequest turn, String previousTurnId, boolean store,
        boolean keyless, TalonSettings.MidStream midStream,
        Presentation presentation, List<RequestedServer> mcpServers, ActorRef<StartReply> replyTo) {
      return new StartTurn(agentId, model, turn.input().stream().map(InputItem::of).toList(), turn.instructions(),
          turn.tools(), turn.toolChoice(), turn.maxOutputTokens(), turn.temperature(), turn.reasoningEffort(),
          previousTurnId, store, keyless, midStream, presentation, mcpServers, replyTo);
    }
  }

  /** Stops the running turn; {@code turnId} null means whichever turn is running. */
  public record CancelTurn(String turnId, ActorRef<CancelReply> replyTo) implements Command {}

  /**
   * The events of the running or last turn from {@code fromIndex} on, then live: a subscriber
   * that reconnects with the index it reached misses nothing. {@code turnId} null means the
   * running or last turn.
   */
  public record Subscribe(String turnId, int fromIndex, ActorRef<SubscribeReply> replyTo) implements Command {}

  /** The turns the entity holds: those of the model view, and the running one. */
  public record GetTranscript(ActorRef<Transcript> replyTo) implements Command {}

  /** How big the model view is, against the budget of the model the next turn would call. */
  public record GetContext(ActorRef<Context> replyTo) implements Command {}

  /**
   * Folds the older turns into the summary now, keeping the newest turns up to the budget's
   * keep share (and at least the newest turn).
   *
   * @param focus what the summary should dwell on, or null
   */
  public record Compact(String focus, ActorRef<StartReply> replyTo) implements Command {}

  /**
   * Erases the conversation: a running turn is cancelled, then every journal row and snapshot is
   * deleted and this incarnation stops, so the key starts afresh. With {@code unusedSince} set
   * (expiry), a conversation that ran a turn after that instant is kept.
   */
  public record Delete(Instant unusedSince, ActorRef<StatusReply<Done>> replyTo) implements Command {}

  /**
   * From the shard, when this node leaves the cluster and the conversation moves to another: a
   * running turn whose client is on another node finishes first, then the entity stops.
   */
  public enum HandOff implements Command { INSTANCE }

  /**
   * A person's answer to the running turn's calls that wait for approval: the one named by
   * {@code callId}, or all of them when it is null.
   *
   * @param reason why a call is turned down, told to the model; may be null
   */
  public record Approve(String turnId, String callId, boolean approved, String reason,
      ActorRef<ApproveReply> replyTo) implements Command {}

  public sealed interface ApproveReply extends JsonSerializable {}

  /** The calls now approved or turned down. */
  public record Decided(List<String> callIds) implements ApproveReply {}

  /** The turn named is not running, or none of its calls waits for approval (or not the one named). */
  public record NothingToApprove(String turnId, String callId) implements ApproveReply {}

  /** What the entity sends itself. */
  private sealed interface Own extends Command {}

  /** The MCP servers of the running turn's agent listed their tools (or some could not). */
  private record ToolsReady(String turnId, McpServers.Catalog catalog, Throwable failure) implements Own {}

  /** A tool call of the running turn ended. */
  private record ToolCallDone(String turnId, ToolCall.Done done) implements Own {}

  /** No one approved the call in time. */
  private record ApprovalTimedOut(String turnId, String callId) implements Own {}

  private record RunnerCompleted(String turnId, TurnResult result) implements Own {}

  private record RunnerFailed(String turnId, TurnEvent.Failed failure) implements Own {}

  /** The running turn compacted the conversation before a call. */
  private record RunnerCompacted(String turnId, Compaction compaction) implements Own {}

  /** A compaction outside a turn ended with {@code outcome}: Compacted or Failed. */
  private record JobFinished(String jobId, TurnEvent outcome) implements Own {}

  private record Erased(Throwable failure, ActorRef<StatusReply<Done>> replyTo) implements Own {}

  /** The journal answered whether a previous_response_id that is not the latest turn was ever a turn. */
  /** A parceled command whose pieces could not be read: its asker has gone, or its node. */
  private record ParcelLost(Throwable failure) implements Own {}

  private record PreviousChecked(StartTurn start, String latestTurnId, boolean exists) implements Own {}

  /** Sent to itself after recovery finds a turn that the previous incarnation never finished. */
  private enum InterruptUnfinishedTurn implements Own { INSTANCE }

  private enum IdleTimeout implements Own { INSTANCE }

  public sealed interface StartReply extends JsonSerializable {}

  /** The turn, or a compaction outside a turn, started; its events follow. */
  public record TurnAccepted(String turnId, TurnEvents events) implements StartReply {}

  /** Another turn, or a compaction a client asked for, is running ("conversation busy"). */
  public record Busy(String turnId) implements StartReply {}

  /** The request names an unknown agent or model, or has no input. */
  public record Rejected(String reason) implements StartReply {}

  /** A compaction was asked of a conversation whose model view holds no turn older than its newest. */
  public record NothingToCompact(int keptTurns) implements StartReply {}

  /** The previous turn named is not in this conversation. */
  public record UnknownPrevious(String previousTurnId) implements StartReply {}

  /** The previous turn named is not the latest: conversations are continued, not branched. */
  public record PreviousNotLatest(String previousTurnId, String latestTurnId) implements StartReply {}

  public sealed interface CancelReply extends JsonSerializable {}

  public record Cancelled(String turnId) implements CancelReply {}

  /** No turn is running, or not the one named. */
  public record NotRunning(String turnId) implements CancelReply {}

  public sealed interface SubscribeReply extends JsonSerializable {}

  public record Subscribed(String turnId, TurnEvents events) implements SubscribeReply {}

  /** The turn is neither running nor the last one in memory (read the transcript instead). */
  public record UnknownTurn(String turnId) implements SubscribeReply {}

  /**
   * @param turns the turns the entity holds (those of the model view, and the running one)
   * @param turnCount the conversation's turns since it began
   * @param parceled for an asker on another node when the turns would not fit one remoting frame:
   *     the whole transcript as {@link Parcels} (and {@code turns} empty); otherwise null
   */
  public record Transcript(List<Turn> turns, int turnCount, SourceRef<ByteString> parceled)
      implements JsonSerializable {
    /** The number of {@code turns}' first, counting the conversation's turns from 1. */
    public int firstNumber() {
      return turnCount - turns.size() + 1;
    }
  }

  /**
   * A command too large for one remoting frame (a turn with a long input), as {@link Parcels}:
   * the entity reads it whole, then handles it like any other.
   */
  public record Parceled(SourceRef<ByteString> pieces) implements Command {}

  /**
   * The model view's size against the budget of the model the next turn would call.
   *
   * @param tokens the view's tokens: the last reported usage plus an estimate of what followed
   * @param model the model the next turn calls first, or null when the conversation has no turn
   * @param budgetTokens that model's prompt budget
   * @param latest the latest compaction, or null
   * @param compacting a compaction outside a turn is running
   */
  public record Context(long tokens, String model, int budgetTokens, int compactions, Compaction latest,
      int turnCount, int keptTurns, boolean compacting) implements JsonSerializable {}

  // ---- events --------------------------------------------------------------------------------

  /**
   * What the journal keeps. The JSON carries these type names and the manifest carries nothing
   * (application.conf), so classes can be renamed or moved without breaking replay.
   */
  @JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "type")
  @JsonSubTypes({
      @JsonSubTypes.Type(value = TurnStarted.class, name = "turn-started"),
      @JsonSubTypes.Type(value = TurnCompleted.class, name = "turn-completed"),
      @JsonSubTypes.Type(value = TurnFailed.class, name = "turn-failed"),
      @JsonSubTypes.Type(value = TurnInterrupted.class, name = "turn-interrupted"),
      @JsonSubTypes.Type(value = ToolCallStarted.class, name = "tool-call-started"),
      @JsonSubTypes.Type(value = ToolCallFinished.class, name = "tool-call-finished"),
      @JsonSubTypes.Type(value = ConversationReset.class, name = "conversation-reset"),
      @JsonSubTypes.Type(value = Compacted.class, name = "compacted")})
  public sealed interface Event {}

  /**
   * The user's input, journaled before anyone sees an answer.
   *
   * @param keyless the client named no conversation (the event is tagged {@link #KEYLESS_TAG})
   * @param presentation how the client was shown the turn; null in journals written before it was kept
   */
  public record TurnStarted(String turnId, List<InputItem> input, String agentId, String requestedModel,
      Instant startedAt, @JsonInclude(JsonInclude.Include.NON_DEFAULT) boolean keyless,
      @JsonInclude(JsonInclude.Include.NON_NULL) Presentation presentation) implements Event {}

  public record TurnCompleted(String turnId, TurnResult result) implements Event {}

  public record TurnFailed(String turnId, String reason, String kind, List<Attempt> attempts) implements Event {}

  /** The process running the turn died before the turn ended. */
  public record TurnInterrupted(String turnId) implements Event {}

  /** The running turn is about to run an MCP tool call: journaled before the call starts. */
  public record ToolCallStarted(String turnId, McpCall call) implements Event {}

  /** The call ended: its outcome, or that it was interrupted. */
  public record ToolCallFinished(String turnId, McpCall call) implements Event {}

  /** The turns before the compaction's first kept turn are seen from now on through its summary. */
  public record Compacted(Compaction compaction) implements Event {}

  /** Written by the reset of earlier versions (DELETE now erases); kept so their journals replay. */
  public record ConversationReset(Instant at) implements Event {}

  // ---- state ---------------------------------------------------------------------------------

  public enum Status {
    RUNNING,
    COMPLETED,
    FAILED,
    INTERRUPTED
  }

  /**
   * One turn of the transcript.
   *
   * @param requestedModel the canonical ref the client asked for, or null
   * @param result set when the turn completed: output, model used, attempts, usage, cost
   * @param failure set when the turn failed or was cancelled
   * @param presentation how its client was shown the turn, or null (see {@link TurnStarted})
   * @param toolCalls the MCP tool calls journaled while the turn ran; a completed turn's result
   *     holds them instead, in order with its text
   */
  public record Turn(String turnId, List<InputItem> input, String agentId, String requestedModel, Instant startedAt,
      Status status, TurnResult result, Failure failure, Presentation presentation,
      @JsonInclude(JsonInclude.Include.NON_EMPTY) List<McpCall> toolCalls) implements JsonSerializable {

    public Turn {
      toolCalls = toolCalls == null ? List.of() : List.copyOf(toolCalls);
    }

    /** The turn as its input was journaled: running. */
    static Turn started(TurnStarted e) {
      return new Turn(e.turnId(), e.input(), e.agentId(), e.requestedModel(), e.startedAt(), Status.RUNNING, null,
          null, e.presentation(), List.of());
    }

    /** The turn once {@code outcome} (TurnCompleted, TurnFailed or TurnInterrupted) ended it. */
    Turn ended(Event outcome) {
      if (outcome instanceof TurnCompleted completed) {
        return ended(Status.COMPLETED, completed.result(), null);
      }
      if (outcome instanceof TurnFailed failed) {
        return ended(Status.FAILED, null, new Failure(failed.reason(), failed.kind(), failed.attempts()));
      }
      return ended(Status.INTERRUPTED, null, null);
    }

    private Turn ended(Status newStatus, TurnResult newResult, Failure newFailure) {
      // A completed turn's result holds its calls, in order with its text.
      return new Turn(turnId, input, agentId, requestedModel, startedAt, newStatus, newResult, newFailure,
          presentation, newResult == null ? toolCalls : List.of());
    }

    /** The turn with {@code call} journaled: added, or in the place of its earlier state. */
    Turn withCall(McpCall call) {
      List<McpCall> calls = new ArrayList<>(toolCalls);
      calls.removeIf(c -> c.callId().equals(call.callId()));
      calls.add(call);
      return new Turn(turnId, input, agentId, requestedModel, startedAt, status, result, failure, presentation, calls);
    }

    /**
     * This turn as the model sees it later: the input, then the output if it completed, else the
     * tool calls that ran (they may have changed something, so the model must know of them).
     */
    List<ModelRequest.Item> modelView() {
      List<ModelRequest.Item> items = new ArrayList<>(inputView(input));
      items.addAll(outputView());
      return items;
    }

    List<ModelRequest.Item> outputView() {
      return result != null ? outputView(result.output()) : outputView(toolCalls);
    }

    static List<ModelRequest.Item> inputView(List<InputItem> input) {
      return input.stream().map(InputItem::toModelItem).toList();
    }

    static List<ModelRequest.Item> outputView(List<? extends OutputItem> output) {
      List<ModelRequest.Item> items = new ArrayList<>(output.size());
      for (OutputItem item : output) {
        if (item instanceof OutputItem.FunctionCall call) {
          items.add(new ModelRequest.FunctionCall(call.callId(), call.name(), call.arguments()));
        } else if (item instanceof McpCall call) {
          items.addAll(call.modelItems());
        } else {
          items.add(new ModelRequest.Message(ModelRequest.Role.ASSISTANT, ((OutputItem.Text) item).text()));
        }
      }
      return items;
    }

    /**
     * What a client that keeps its own history holds of an answer, and sends again: the answer
     * itself. Of a turn that ran tools, the client saw the text as one message (and its own
     * function calls), not the calls Talon ran.
     */
    static List<ModelRequest.Item> clientView(TurnResult result) {
      if (!result.ranTools()) {
        return outputView(result.output());
      }
      List<ModelRequest.Item> items = new ArrayList<>();
      if (!result.text().isEmpty()) {
        items.add(new ModelRequest.Message(ModelRequest.Role.ASSISTANT, result.text()));
      }
      items.addAll(outputView(result.output().stream().filter(OutputItem.FunctionCall.class::isInstance).toList()));
      return items;
    }
  }

  public record Failure(String reason, String kind, List<Attempt> attempts) implements JsonSerializable {}

  /** A turn's estimated tokens: its input, and its output if it completed. */
  public record TurnSize(long input, long output) implements JsonSerializable {
    static TurnSize of(Turn turn) {
      return new TurnSize(TokenEstimate.of(Turn.inputView(turn.input())), TokenEstimate.of(turn.outputView()));
    }
  }

  /**
   * What the entity holds: the model view and what the next turn needs, not the whole history.
   *
   * @param turns the turns after the latest compaction's cut, the running one last
   * @param turnCount the conversation's turns since it began
   * @param latest the latest compaction, or null
   * @param history the fingerprint of everything the model was shown (see {@link ResentHistory})
   * @param reported the provider's count of the view up to a turn, or null
   * @param sizes each turn's estimated tokens, counted once: a turn's request is then sized
   *     without reading the whole conversation again
   */
  public record State(List<Turn> turns, int turnCount, Compaction latest, int compactions, ResentHistory history,
      ModelView.Reported reported, List<TurnSize> sizes) implements JsonSerializable {
    public static final State EMPTY = new State(List.of(), 0, null, 0, ResentHistory.EMPTY, null, List.of());

    public State {
      turns = List.copyOf(turns);
      // Snapshots of earlier versions hold every turn and nothing else.
      turnCount = Math.max(turnCount, turns.size());
      if (history == null) {
        history = ResentHistory.EMPTY.with(turns.stream().flatMap(turn -> turn.modelView().stream()).toList());
      }
      sizes = sizes == null || sizes.size() != turns.size() ? turns.stream().map(TurnSize::of).toList()
          : List.copyOf(sizes);
    }

    /** The turn in progress (always the last one), or null. */
    public Turn runningTurn() {
      Turn last = lastTurn();
      return last != null && last.status() == Status.RUNNING ? last : null;
    }

    Turn lastTurn() {
      return turns.isEmpty() ? null : turns.get(turns.size() - 1);
    }

    boolean hasTurn(String turnId) {
      return turns.stream().anyMatch(turn -> turn.turnId().equals(turnId));
    }

    boolean idle() {
      return runningTurn() == null;
    }

    /** The turns the model sees again, all but the running one, with their items. */
    List<ModelView.Earlier> earlier() {
      List<ModelView.Earlier> earlier = new ArrayList<>(turns.size());
      for (int i = 0; i < turns.size(); i++) {
        Turn turn = turns.get(i);
        if (turn.status() != Status.RUNNING) {
          earlier.add(new ModelView.Earlier(turn.turnId(), turn.modelView(), sizes.get(i).input() + sizes.get(i).output()));
        }
      }
      return earlier;
    }

    /** The longest input the view holds: what the next message may well be. */
    long longestInput() {
      return sizes.stream().mapToLong(TurnSize::input).max().orElse(0);
    }

    /** The view a request is built from: the summary, the turns after it, and {@code turn}'s input. */
    ModelView view(String turnId, ModelRequest turn, ModelView.Compacting compacting) {
      return new ModelView(turnId, turn, latest == null ? null : latest.summary(), earlier(), reported, compacting);
    }

    State start(TurnStarted e) {
      List<Turn> next = new ArrayList<>(turns);
      next.add(Turn.started(e));
      List<ModelRequest.Item> shown = Turn.inputView(e.input());
      List<TurnSize> nextSizes = new ArrayList<>(sizes);
      nextSizes.add(new TurnSize(TokenEstimate.of(shown), 0));
      return new State(next, turnCount + 1, latest, compactions, history.with(shown), reported, nextSizes);
    }

    State complete(TurnCompleted e) {
      TokenUsage usage = e.result().usage();
      // A turn that ran tools made several calls: their tokens add up to more than the view holds.
      ModelView.Reported counted = usage != null && usage.inputTokens() > 0 && !e.result().ranTools()
          ? new ModelView.Reported(e.turnId(), usage.inputTokens() + usage.outputTokens()) : reported;
      return endRunningTurn(e, history.with(Turn.clientView(e.result())), counted);
    }

    State toolCall(McpCall call) {
      List<Turn> next = new ArrayList<>(turns);
      next.set(next.size() - 1, runningTurn().withCall(call));
      return new State(next, turnCount, latest, compactions, history, reported, sizes);
    }

    State fail(TurnFailed e) {
      return endRunningTurn(e, history, reported);
    }

    State interrupt(TurnInterrupted e) {
      return endRunningTurn(e, history, reported);
    }

    State compact(Compacted e) {
      int kept = 0;
      while (kept < turns.size() && !turns.get(kept).turnId().equals(e.compaction().firstKeptTurnId())) {
        kept++;
      }
      int from = kept < turns.size() ? kept : 0;
      return new State(turns.subList(from, turns.size()), turnCount, e.compaction(), compactions + 1, history, null,
          sizes.subList(from, sizes.size()));
    }

    private State endRunningTurn(Event outcome, ResentHistory newHistory, ModelView.Reported newReported) {
      List<Turn> next = new ArrayList<>(turns);
      Turn ended = runningTurn().ended(outcome);
      next.set(next.size() - 1, ended);
      List<TurnSize> nextSizes = new ArrayList<>(sizes);
      nextSizes.set(nextSizes.size() - 1, new TurnSize(sizes.get(sizes.size() - 1).input(),
          TokenEstimate.of(ended.outputView())));
      return new State(next, turnCount, latest, compactions, newHistory, newReported, nextSizes);
    }
  }

  // ---- behaviour -----------------------------------------------------------------------------

  /** {@link TurnEvent.Failed#kind()} of a turn stopped by its client. */
  public static final String CANCELLED = "CANCELLED";
  /** {@link TurnEvent.Failed#kind()} when the conversation stopped under a running turn. */
  public static final String INTERRUPTED = "INTERRUPTED";
  /** {@link TurnEvent.Failed#kind()} when the runner broke its contract (a bug, not an upstream fault). */
  public static final String INTERNAL = "INTERNAL";
  private static final TurnEvent.Failed CANCELLATION = new TurnEvent.Failed("cancelled", CANCELLED, List.of());
  /** The journal tag of a keyless conversation's first turn: what the retention sweep looks for. */
  public static final String KEYLESS_TAG = "keyless";
  /** Why a turn of an agent that acts cannot run unstored. */
  static final String UNSTORED_TOOLS = "this agent calls MCP tools, and every tool call is journaled so that none"
      + " runs twice: its turns are always stored (store: false is not available for it)";
  /** {@link TurnEvent.Failed#kind()} when the journal could not write the turn: try again later. */
  public static final String STORAGE = "STORAGE";

  private final ActorContext<Command> context;
  private final EntityContext<Command> entity;
  private final ModelCatalog catalog;
  /** Runs the conversation's turns, counted in the node's metrics. */
  private final TurnRunner runner;
  /** Runs the model calls of a turn that runs tools, which counts itself ({@link #tally}). */
  private final TurnRunner modelCalls;
  private final NodeMetrics metrics;
  private final TalonSettings.Conversations settings;
  private final JournalEraser eraser;
  private final JournalReader reader;
  private final CompactionStage compaction;
  private final Materializer materializer;
  private final Parcels parcels;
  /** The node's MCP servers, whose tools agents may call. */
  private final McpServers mcp;

  /** The running or last turn of this incarnation; subscribers read it, the runner appends. */
  private TurnLog log;
  /** Stops the running turn's runner; null when no runner is running. */
  private UniqueKillSwitch runnerSwitch;
  /** The journal is being erased: commands wait. */
  private boolean erasing;
  /** The journal is erased: this incarnation's state is stale, so commands go to the next one. */
  private boolean erased;
  /** The running turn's client is on another node, which a drain of this node's gateway does not wait for. */
  private boolean askedFromAnotherNode;
  /** This node leaves: once the running turn ends, the entity stops. */
  private boolean handingOff;
  /**
   * This incarnation asked its shard to let it go. A turn the shard had passed on before it got
   * the request can still start, and the shard's stop then finds it running: that stop is the
   * answer to the request, not the node leaving, so the turn finishes first.
   */
  private boolean askedToLeave;
  /** The compaction running outside a turn, or null. */
  private Job job;
  /** The running turn's tools and what they did, when its agent may use MCP tools; else null. */
  private ToolLoop loop;
  /** Counts the running turn that runs tools, as one turn however many model calls it makes. */
  private NodeMetrics.TurnCount tally;
  /** The running turn's tool calls under way, by call id. */
  private final Map<String, ActorRef<ToolCall.Message>> calls = new HashMap<>();

  /** A compaction outside a turn: its events, and how to stop it. */
  private record Job(String id, String trigger, TurnLog log, UniqueKillSwitch stop) {}

  /**
   * @param eraser removes the conversation's rows for good
   * @param reader reads turns folded out of memory back from the journal
   * @param metrics the node's, where turns, compactions, journal writes and the conversation's stay in memory count
   * @param mcp the node's MCP servers, whose tools agents may call
   */
  public static Behavior<Command> create(EntityContext<Command> entity, ModelCatalog catalog, TurnRunner runner,
      TalonSettings.Conversations settings, JournalEraser eraser, JournalReader reader, NodeMetrics metrics,
      McpServers mcp) {
    return Behaviors.setup(context -> new ConversationEntity(context, entity, catalog, runner, settings, eraser,
        reader, metrics, mcp));
  }

  private ConversationEntity(ActorContext<Command> context, EntityContext<Command> entity, ModelCatalog catalog,
      TurnRunner runner, TalonSettings.Conversations settings, JournalEraser eraser, JournalReader reader,
      NodeMetrics metrics, McpServers mcp) {
    // A journal that cannot write restarts the conversation, which then reads the journal back:
    // with backoff, so a database that is down is not hammered by every conversation at once.
    super(PersistenceId.of(entity.getEntityTypeKey().name(), entity.getEntityId()),
        SupervisorStrategy.restartWithBackoff(settings.journalBackoffInitial(), settings.journalBackoffMax(), 0.2));
    this.context = context;
    this.entity = entity;
    this.catalog = catalog;
    this.runner = metrics.counting(runner);
    this.modelCalls = runner;
    this.metrics = metrics;
    this.settings = settings;
    this.eraser = eraser;
    this.reader = reader;
    // Summaries call their models through the runner itself: they are not turns.
    this.compaction = new CompactionStage(runner);
    this.materializer = Materializer.matFromSystem(context.getSystem());
    this.parcels = Parcels.of(context.getSystem());
    this.mcp = mcp;
    // Passivation is ours, not the shard's: the shard only sees messages sent through it, so it
    // would stop a conversation waiting minutes for a cold model's first token.
    context.setReceiveTimeout(settings.passivateAfter(), IdleTimeout.INSTANCE);
    metrics.conversationStarted(); // and stopped on PostStop, which every way of stopping ends with
  }

  @Override
  public State emptyState() {
    return State.EMPTY;
  }

  @Override
  public RetentionCriteria retentionCriteria() {
    return RetentionCriteria.snapshotEvery(settings.snapshotEvery(), 2);
  }

  @Override
  public Set<String> tagsFor(Event event) {
    return event instanceof TurnStarted started && started.keyless() ? Set.of(KEYLESS_TAG) : Set.of();
  }

  @Override
  public CommandHandler<Command, Event, State> commandHandler() {
    CommandHandlerBuilder<Command, Event, State> builder = newCommandHandlerBuilder();
    builder.forState(state -> erased)
        .onCommand(Own.class, () -> Effect().none())
        .onCommand(HandOff.class, () -> Effect().stop())
        .onCommand(Command.class, this::toNextIncarnation);
    builder.forState(state -> erasing)
        .onCommand(Erased.class, this::erased)
        .onCommand(Command.class, command -> Effect().stash());
    builder.forState(this::unfinishedByAnEarlierRun)
        .onCommand(InterruptUnfinishedTurn.class, this::interruptUnfinishedTurn)
        .onCommand(Command.class, command -> Effect().stash());
    builder.forState(state -> state.idle() && job != null)
        .onCommand(StartTurn.class, this::startTurnBesideJob)
        .onCommand(Compact.class, compact -> Effect().reply(compact.replyTo(), new Busy(job.id())))
        .onCommand(CancelTurn.class, cancel -> Effect().reply(cancel.replyTo(), new NotRunning(cancel.turnId())))
        .onCommand(JobFinished.class, this::jobFinished)
        .onCommand(IdleTimeout.class, () -> Effect().none()); // a compaction in flight keeps it in memory
    builder.forState(State::idle)
        .onCommand(StartTurn.class, this::startTurn)
        .onCommand(Compact.class, this::compact)
        .onCommand(CancelTurn.class, cancel -> Effect().reply(cancel.replyTo(), new NotRunning(cancel.turnId())))
        .onCommand(IdleTimeout.class, this::passivate);
    builder.forState(this::runningHere)
        .onCommand(StartTurn.class, (state, start) -> Effect().reply(start.replyTo(),
            new Busy(state.runningTurn().turnId())))
        .onCommand(Compact.class, (state, compact) -> Effect().reply(compact.replyTo(),
            new Busy(state.runningTurn().turnId())))
        .onCommand(CancelTurn.class, this::cancel)
        .onCommand(RunnerCompleted.class, this::complete)
        .onCommand(RunnerFailed.class, this::fail)
        .onCommand(IdleTimeout.class, () -> Effect().none()) // a turn in flight keeps it in memory
        .onCommand(HandOff.class, this::handOffAfterTheTurn)
        .onCommand(ToolsReady.class, this::toolsReady)
        .onCommand(ToolCallDone.class, this::toolCallDone)
        .onCommand(Approve.class, this::approve)
        .onCommand(ApprovalTimedOut.class, this::approvalTimedOut);
    builder.forAnyState()
        .onCommand(Delete.class, this::delete)
        .onCommand(HandOff.class, () -> Effect().stop()) // a background compaction is simply redone later
        .onCommand(Subscribe.class, this::subscribe)
        .onCommand(GetTranscript.class, (state, get) -> Effect().reply(get.replyTo(), transcript(state, get.replyTo())))
        .onCommand(Parceled.class, this::unparcel)
        .onCommand(ParcelLost.class, lost -> {
          context.getLog().warn("a command sent in pieces was lost on the way: {}", lost.failure().toString());
          return Effect().none();
        })
        .onCommand(GetContext.class, (state, get) -> Effect().reply(get.replyTo(), context(state)))
        .onCommand(PreviousChecked.class, this::previousChecked)
        // a compaction stays valid after its turn ended: the turns it folded are still there
        .onCommand(RunnerCompacted.class, this::compacted)
        // the runner of a cancelled turn may still report; that turn is already closed
        .onCommand(RunnerCompleted.class, () -> Effect().none())
        .onCommand(RunnerFailed.class, () -> Effect().none())
        .onCommand(JobFinished.class, () -> Effect().none()) // of a job that was stopped
        // and so may the tools of a turn that has ended
        .onCommand(ToolsReady.class, () -> Effect().none())
        .onCommand(ToolCallDone.class, () -> Effect().none())
        .onCommand(ApprovalTimedOut.class, () -> Effect().none())
        .onCommand(Approve.class, approve -> Effect().reply(approve.replyTo(),
            new NothingToApprove(approve.turnId(), approve.callId())));
    return builder.build();
  }

  @Override
  public EventHandler<State, Event> eventHandler() {
    return newEventHandlerBuilder().forAnyState()
        .onEvent(TurnStarted.class, State::start)
        .onEvent(TurnCompleted.class, State::complete)
        .onEvent(TurnFailed.class, State::fail)
        .onEvent(TurnInterrupted.class, State::interrupt)
        .onEvent(ToolCallStarted.class, (state, started) -> state.toolCall(started.call()))
        .onEvent(ToolCallFinished.class, (state, finished) -> state.toolCall(finished.call()))
        .onEvent(Compacted.class, State::compact)
        .onEvent(ConversationReset.class, (state, reset) -> State.EMPTY)
        .build();
  }

  @Override
  public SignalHandler<State> signalHandler() {
    return newSignalHandlerBuilder()
        .onSignal(RecoveryCompleted.instance(), this::onRecovered)
        .onSignal(PostStop.instance(), state -> {
          metrics.conversationStopped();
          abandonTurn(new TurnEvent.Failed("the conversation stopped during the turn", INTERRUPTED, List.of()));
        })
        .onSignal(PreRestart.instance(), state -> abandonTurn(new TurnEvent.Failed(
            "the conversation store could not save the turn; try again shortly", STORAGE, List.of())))
        .build();
  }

  // ---- which row of the table ----------------------------------------------------------------

  private boolean runningHere(State state) {
    Turn running = state.runningTurn();
    return running != null && log != null && log.turnId().equals(running.turnId());
  }

  /** The journal says a turn runs, but no runner of this incarnation runs it. */
  private boolean unfinishedByAnEarlierRun(State state) {
    return !state.idle() && !runningHere(state);
  }

  // ---- command handlers ----------------------------------------------------------------------

  private Effect<Event, State> startTurn(State state, StartTurn start) {
    Turn last = state.lastTurn();
    if (start.previousTurnId() != null && (last == null || !last.turnId().equals(start.previousTurnId()))) {
      // Accepting costs one comparison; only a refusal looks further, to tell which refusal it is.
      if (state.hasTurn(start.previousTurnId())) {
        return Effect().reply(start.replyTo(), new PreviousNotLatest(start.previousTurnId(), last.turnId()));
      }
      String latest = last == null ? null : last.turnId();
      context.pipeToSelf(reader.turn(persistenceId().id(), start.previousTurnId()),
          (found, failure) -> new PreviousChecked(start, latest, found != null && found.isPresent()));
      return Effect().none();
    }
    List<InputItem> input = state.history().newItems(start.input());
    TurnPlan plan;
    try {
      plan = TurnPlan.of(catalog, start.agentId(), start.model(), input);
    } catch (TurnPlan.Refused e) {
      return Effect().reply(start.replyTo(), new Rejected(e.getMessage()));
    }
    ModelRequest turn = new ModelRequest(start.instructions(), Turn.inputView(input), start.tools(),
        start.toolChoice(), start.maxOutputTokens(), start.temperature(), start.reasoningEffort());
    String turnId = UUID.randomUUID().toString();
    ModelView view = state.view(turnId, turn, plan.compacting());
    boolean acts = plan.acts(start.mcpServers());
    if (!start.store()) {
      return Effect().reply(start.replyTo(), acts ? new Rejected(UNSTORED_TOOLS) : new TurnAccepted(turnId,
          events(plan.runUnstored(runner, turnId, view, start.midStream()), start.replyTo())));
    }
    if (acts) {
      return startActing(state, start, input, plan, turn, turnId);
    }
    // The model call starts now, while TurnStarted is being written, so the write hides behind
    // the model's first token; the client is answered now too, so it connects to the turn's log
    // meanwhile. The log is held: nobody sees an answer before the input is durable.
    return journalStart(start, input, plan, startRunner(turnId, plan.candidates(), view, start.midStream()));
  }

  /**
   * Journals the turn's input and answers its client with the turn's log, which it may read at
   * once but which shows nothing before the input is durable.
   */
  private Effect<Event, State> journalStart(StartTurn start, List<InputItem> input, TurnPlan plan, TurnLog turnLog) {
    askedFromAnotherNode = !start.replyTo().path().address().hasLocalScope();
    TurnStarted started = new TurnStarted(turnLog.turnId(), input, plan.agent().id(),
        plan.requested() == null ? null : plan.requested().ref(), Instant.now(), start.keyless(), start.presentation());
    start.replyTo().tell(new TurnAccepted(turnLog.turnId(), events(turnLog, 0, start.replyTo())));
    long persisting = System.nanoTime();
    return Effect().persist(started).thenRun(s -> {
      metrics.journaled(NodeMetrics.TURN_STARTED, persisting);
      turnLog.release();
    });
  }

  /**
   * Starts a turn whose agent may call MCP tools: its servers list their tools (starting, the
   * first time) while the input is journaled, and the first model call follows with them.
   */
  private Effect<Event, State> startActing(State state, StartTurn start, List<InputItem> input, TurnPlan plan,
      ModelRequest turn, String turnId) {
    Toolbox toolbox;
    try {
      toolbox = mcp.toolbox(ToolPolicy.of(plan.agent()), start.mcpServers());
    } catch (RequestedServer.Refused e) {
      return Effect().reply(start.replyTo(), new Rejected(e.getMessage()));
    }
    TurnLog turnLog = TurnLog.held(turnId);
    // The turn's calls repeat no start: one turn, one Started, ahead of its tool listing.
    TurnEvent.Started begun = new TurnEvent.Started(turnId, plan.candidates().get(0).ref());
    turnLog.append(begun);
    tally = metrics.countTurn();
    tally.on(begun);
    log = turnLog;
    loop = new ToolLoop(plan, turn, start.midStream(), toolbox);
    context.pipeToSelf(loop.toolbox().catalog(), (catalog, failure) -> new ToolsReady(turnId, catalog, failure));
    return journalStart(start, input, plan, turnLog);
  }

  private Effect<Event, State> toolsReady(State state, ToolsReady ready) {
    if (loop == null || !ready.turnId().equals(log.turnId())) {
      return Effect().none();
    }
    McpServers.Catalog catalog = ready.failure() == null ? ready.catalog()
        : new McpServers.Catalog(List.of(), List.of());
    loop.listed(catalog);
    for (String server : loop.toolbox().servers()) {
      String error = ready.failure() != null ? "the tools could not be listed: " + ready.failure()
          : catalog.unavailable().stream().filter(f -> f.server().equals(server)).map(Throwable::getMessage)
              .findFirst().orElse(null);
      log.append(new TurnEvent.ToolsListed(server, catalog.tools().stream().filter(t -> t.server().equals(server))
          .map(t -> new TurnEvent.ListedTool(t.name(), t.description(), t.inputSchema())).toList(), error));
    }
    callModel(state);
    return Effect().none();
  }

  /** The running turn's next model call, with what its tools have done so far. */
  private void callModel(State state) {
    String turnId = log.turnId();
    ModelView view = state.view(turnId, loop.request(), loop.plan().compacting());
    // The model's calls of the agent's tools are the turn's to run and show; only the client's own go to it.
    Predicate<String> forTheClient = loop.clientFunctions()::contains;
    consumeRun(turnId, modelCalls.run(turnId, loop.plan().candidates(), view, loop.midStream())
        .filter(event -> !(event instanceof TurnEvent.Started)
            && !(event instanceof TurnEvent.ToolCall call && !forTheClient.test(call.name()))), log);
  }

  /** After a model call of a turn that may call tools: the answer, or a round of calls. */
  private Effect<Event, State> answered(State state, RunnerCompleted completed) {
    runnerSwitch = null;
    ToolLoop.Next next = loop.answered(completed.result());
    if (next instanceof ToolLoop.Answer answer) {
      return advance(List.of(), List.of(), List.of(), answer.result());
    }
    ToolLoop.Round round = (ToolLoop.Round) next;
    List<TurnEvent> shown = new ArrayList<>();
    round.refused().forEach(call -> shown.add(new TurnEvent.ToolCallFinished(call)));
    for (McpCall call : round.ask()) {
      shown.add(new TurnEvent.ApprovalRequired(call));
      context.scheduleOnce(loop.toolbox().approvalTimeout(), context.getSelf(),
          new ApprovalTimedOut(log.turnId(), call.callId()));
    }
    return advance(List.of(), shown, round.run(), null);
  }

  private Effect<Event, State> toolCallDone(State state, ToolCallDone done) {
    String callId = done.done().callId();
    if (loop == null || !done.turnId().equals(log.turnId()) || calls.remove(callId) == null) {
      return Effect().none();
    }
    McpCall ended = loop.finished(callId, done.done().result(), done.done().failure());
    return advance(List.of(new ToolCallFinished(log.turnId(), ended)), List.of(new TurnEvent.ToolCallFinished(ended)),
        List.of(), null);
  }

  private Effect<Event, State> approve(State state, Approve approve) {
    List<McpCall> waiting = awaitingApproval(approve.turnId(), approve.callId());
    if (waiting.isEmpty()) {
      return Effect().reply(approve.replyTo(), new NothingToApprove(approve.turnId(), approve.callId()));
    }
    approve.replyTo().tell(new Decided(waiting.stream().map(McpCall::callId).toList()));
    return decide(waiting, approve.approved(), approve.reason());
  }

  private Effect<Event, State> approvalTimedOut(State state, ApprovalTimedOut timedOut) {
    List<McpCall> waiting = awaitingApproval(timedOut.turnId(), timedOut.callId());
    return waiting.isEmpty() ? Effect().none() : decide(waiting, false, "no one approved it within "
        + loop.toolbox().approvalTimeout().toSeconds() + " s");
  }

  /** The calls of turn {@code turnId} that wait for a person: the one named {@code callId}, or all when it is null. */
  private List<McpCall> awaitingApproval(String turnId, String callId) {
    return loop == null || !turnId.equals(log.turnId()) ? List.of() : loop.awaitingApproval().stream()
        .filter(call -> callId == null || call.callId().equals(callId)).toList();
  }

  private Effect<Event, State> decide(List<McpCall> waiting, boolean approved, String reason) {
    List<McpCall> run = new ArrayList<>();
    List<TurnEvent> shown = new ArrayList<>();
    for (McpCall call : waiting) {
      McpCall decided = loop.decided(call.callId(), approved, reason);
      if (approved) {
        run.add(decided);
      } else {
        shown.add(new TurnEvent.ToolCallFinished(decided));
      }
    }
    return advance(List.of(), shown, run, null);
  }

  /**
   * Moves a turn that may call tools on: journals {@code events} (and a start for each call of
   * {@code run}), then shows {@code shown}, runs {@code run}, and once the round's calls have all
   * ended calls the model again or ends the turn with its answer. With {@code answer} set, the
   * turn ends with it now.
   */
  private Effect<Event, State> advance(List<Event> events, List<TurnEvent> shown, List<McpCall> run,
      TurnResult answer) {
    String turnId = log.turnId();
    List<Event> journaled = new ArrayList<>(events);
    run.forEach(call -> journaled.add(new ToolCallStarted(turnId, call)));
    boolean roundOver = answer == null && run.isEmpty() && loop.roundEnded();
    TurnResult result = answer != null ? answer : roundOver ? loop.afterRound() : null;
    boolean callAgain = roundOver && result == null;
    if (result != null) {
      journaled.add(new TurnCompleted(turnId, result));
    }
    return (journaled.isEmpty() ? Effect().<Event, State>none() : Effect().persist(journaled)).thenRun(s -> {
      shown.forEach(log::append);
      for (McpCall call : run) {
        log.append(new TurnEvent.ToolCallStarted(call));
        calls.put(call.callId(), context.spawnAnonymous(ToolCall.create(loop.toolbox(), call.callId(), call.server(),
            call.tool(), call.arguments(),
            context.messageAdapter(ToolCall.Done.class, done -> new ToolCallDone(turnId, done)))));
      }
      if (callAgain) {
        callModel(s);
      }
      if (result != null) {
        answerJournaled(s, result);
      }
    });
  }

  /** The answer to a previous_response_id that is not the latest turn, once the journal was asked. */
  private Effect<Event, State> previousChecked(State state, PreviousChecked checked) {
    StartTurn start = checked.start();
    return Effect().reply(start.replyTo(), checked.exists()
        ? new PreviousNotLatest(start.previousTurnId(), checked.latestTurnId())
        : new UnknownPrevious(start.previousTurnId()));
  }

  /** A turn while a compaction runs outside one: a compaction after a turn gives way, one a client asked for does not. */
  private Effect<Event, State> startTurnBesideJob(State state, StartTurn start) {
    if (!Compaction.THRESHOLD.equals(job.trigger())) {
      return Effect().reply(start.replyTo(), new Busy(job.id()));
    }
    // The turn compacts itself if it must; the background work is lost, not the user's time.
    stopJob(new TurnEvent.Failed("a turn started; it compacts the conversation itself if it must", CANCELLED,
        List.of()));
    return startTurn(state, start);
  }

  private Effect<Event, State> compact(State state, Compact compact) {
    if (state.turns().isEmpty()) {
      return Effect().reply(compact.replyTo(), new Rejected("the conversation has no turns"));
    }
    if (state.turns().size() < 2) {
      return Effect().reply(compact.replyTo(), new NothingToCompact(state.turns().size()));
    }
    Job started = startJob(state, Compaction.MANUAL, compact.focus());
    return Effect().reply(compact.replyTo(), new TurnAccepted(started.id(),
        events(started.log(), 0, compact.replyTo())));
  }

  private Effect<Event, State> compacted(State state, RunnerCompacted compacted) {
    if (!state.hasTurn(compacted.compaction().firstKeptTurnId())) {
      return Effect().none(); // the conversation was erased meanwhile
    }
    return Effect().persist(new Compacted(compacted.compaction()))
        .thenRun(s -> metrics.compacted(compacted.compaction().trigger()));
  }

  private Effect<Event, State> jobFinished(State state, JobFinished finished) {
    if (!finished.jobId().equals(job.id())) {
      return Effect().none();
    }
    Job done = job;
    job = null;
    if (finished.outcome() instanceof TurnEvent.Compacted compacted
        && state.hasTurn(compacted.compaction().firstKeptTurnId())) {
      return Effect().persist(new Compacted(compacted.compaction())).thenRun(s -> {
        metrics.compacted(compacted.compaction().trigger());
        done.log().close(finished.outcome());
      });
    }
    done.log().close(finished.outcome());
    return Effect().none();
  }

  private Effect<Event, State> cancel(State state, CancelTurn cancel) {
    String turnId = state.runningTurn().turnId();
    if (cancel.turnId() != null && !cancel.turnId().equals(turnId)) {
      return Effect().reply(cancel.replyTo(), new NotRunning(cancel.turnId()));
    }
    TurnEvent.Failed cancelled = stopRunner();
    List<ToolCallFinished> stopped = stopToolCalls(turnId, "The call was cut off: the client cancelled the turn."
        + " Whether it took effect is unknown.");
    List<Event> events = new ArrayList<>(stopped);
    events.add(failed(turnId, cancelled));
    return Effect().persist(events)
        .thenRun(s -> stopped.forEach(call -> log.append(new TurnEvent.ToolCallFinished(call.call()))))
        .thenRun(s -> closeLog(cancelled))
        .thenReply(cancel.replyTo(), s -> new Cancelled(turnId));
  }

  private Effect<Event, State> delete(State state, Delete delete) {
    Turn last = state.lastTurn();
    if (delete.unusedSince() != null && last != null
        && (!state.idle() || last.startedAt().isAfter(delete.unusedSince()))) {
      return Effect().reply(delete.replyTo(), StatusReply.ack()); // used again since the sweep looked
    }
    if (runningHere(state)) {
      closeLog(stopRunner()); // not journaled: the journal is about to go
    }
    if (job != null) {
      stopJob(CANCELLATION);
    }
    erasing = true;
    context.pipeToSelf(eraser.erase(persistenceId().id()), (done, failure) -> new Erased(failure, delete.replyTo()));
    return Effect().none();
  }

  private Effect<Event, State> erased(State state, Erased result) {
    erasing = false;
    if (result.failure() != null) {
      // The conversation stays; a turn stopped for the erasure ends as cancelled.
      return (runningHere(state) ? Effect().persist(failed(state.runningTurn().turnId(), CANCELLATION)) : Effect().none())
          .thenReply(result.replyTo(), s -> StatusReply.<Done>error(result.failure()))
          .thenUnstashAll();
    }
    // Stopping through the shard: what it receives meanwhile waits there for the next
    // incarnation, which recovers from the now empty journal.
    erased = true;
    leaveMemory();
    return Effect().reply(result.replyTo(), StatusReply.ack()).thenUnstashAll();
  }

  /** A client's command that reached this incarnation after its journal was erased. */
  private Effect<Event, State> toNextIncarnation(Command command) {
    ClusterSharding.get(context.getSystem()).entityRefFor(entity.getEntityTypeKey(), entity.getEntityId())
        .tell(command);
    return Effect().none();
  }

  private Effect<Event, State> complete(State state, RunnerCompleted completed) {
    if (!completed.turnId().equals(state.runningTurn().turnId())) {
      return Effect().none();
    }
    if (loop != null) {
      return answered(state, completed);
    }
    // Subscribers see Completed only once it is journaled: a client that starts the next turn
    // right after it never finds the conversation busy.
    long persisting = System.nanoTime();
    return Effect().persist(new TurnCompleted(completed.turnId(), completed.result()))
        .thenRun(s -> metrics.journaled(NodeMetrics.TURN_COMPLETED, persisting))
        .thenRun(s -> answerJournaled(s, completed.result()));
  }

  /**
   * The turn's answer is journaled: subscribers see it, the conversation is compacted if it would
   * no longer fit the next turn, and a crowded node lets it go.
   */
  private void answerJournaled(State state, TurnResult result) {
    closeLog(new TurnEvent.Completed(result));
    compactIfOverBudget(state);
    leaveIfCrowded();
  }

  private Effect<Event, State> fail(State state, RunnerFailed failed) {
    if (!failed.turnId().equals(state.runningTurn().turnId())) {
      return Effect().none();
    }
    return Effect().persist(failed(failed.turnId(), failed.failure())).thenRun(s -> closeLog(failed.failure()))
        .thenRun(s -> leaveIfCrowded());
  }

  /** The calls the dead run had started are journaled as interrupted: never run again. */
  private Effect<Event, State> interruptUnfinishedTurn(State state, InterruptUnfinishedTurn interrupt) {
    Turn running = state.runningTurn();
    List<Event> events = new ArrayList<>();
    running.toolCalls().stream().filter(call -> !call.ended()).forEach(call -> events.add(new ToolCallFinished(
        running.turnId(), call.with(McpCall.Status.INTERRUPTED, McpCall.INTERRUPTED_OUTPUT, 0))));
    events.add(new TurnInterrupted(running.turnId()));
    return Effect().persist(events).thenUnstashAll();
  }

  private Effect<Event, State> subscribe(State state, Subscribe subscribe) {
    if (log == null || (subscribe.turnId() != null && !subscribe.turnId().equals(log.turnId()))) {
      return Effect().reply(subscribe.replyTo(), new UnknownTurn(subscribe.turnId()));
    }
    return Effect().reply(subscribe.replyTo(),
        new Subscribed(log.turnId(), events(log, subscribe.fromIndex(), subscribe.replyTo())));
  }

  private Effect<Event, State> unparcel(Parceled parceled) {
    context.pipeToSelf(parcels.receive(parceled.pieces(), Command.class),
        (command, failure) -> failure == null ? command : new ParcelLost(failure));
    return Effect().none();
  }

  /** The turns held, parceled for an asker on another node when they would not fit one frame. */
  private Transcript transcript(State state, ActorRef<?> asker) {
    Transcript whole = new Transcript(state.turns(), state.turnCount(), null);
    if (asker.path().address().hasLocalScope()) {
      return whole;
    }
    return parcels.ifTooLargeForAFrame(whole).map(parceled -> new Transcript(List.of(), state.turnCount(), parceled))
        .orElse(whole);
  }

  /**
   * A turn asked through this node's gateway has had the gateway's drain to finish, so it stops
   * with the node (and reads back interrupted). One asked from another node, whose client stays,
   * finishes first, within the hand-off deadline; so does one that started after this
   * conversation asked to leave memory, whose stop this is.
   */
  private Effect<Event, State> handOffAfterTheTurn() {
    if (!askedFromAnotherNode && !askedToLeave) {
      return Effect().stop();
    }
    handingOff = true;
    return Effect().none();
  }

  private Effect<Event, State> passivate() {
    leaveMemory();
    return Effect().none();
  }

  /**
   * While the node holds more conversations than {@code maxResident}, one leaves memory as soon
   * as its turn ends rather than after {@code passivateAfter}: under a steady stream of new
   * conversations (a stored turn each, most never continued) the idle timeout alone keeps
   * minutes' worth of them, beyond any heap. Its next turn reads it back from the journal; a
   * compaction it started keeps it until it is done.
   */
  private void leaveIfCrowded() {
    if (job == null && metrics.residentConversations() > settings.maxResident()) {
      leaveMemory();
    }
  }

  /** Stops through the shard, which keeps what arrives meanwhile for the next incarnation. */
  private void leaveMemory() {
    askedToLeave = true;
    entity.getShard().tell(new ClusterSharding.Passivate<>(context.getSelf()));
  }

  // ---- signals -------------------------------------------------------------------------------

  private void onRecovered(State state) {
    if (!state.idle()) {
      // Persisting is not possible from a signal handler; until this arrives, every command is
      // stashed (see the command table), so nothing sees the dead turn as running.
      context.getSelf().tell(InterruptUnfinishedTurn.INSTANCE);
    }
  }

  /**
   * The entity stops (passivation never happens mid-turn, so a crash or shutdown) or restarts
   * after a journal write failed: stop the runner and end the turn's log with {@code why}. A log
   * whose input never became durable shows nothing but {@code why}. After a restart the journal
   * is the truth: a turn it holds as running is interrupted, as after a crash.
   */
  private void abandonTurn(TurnEvent.Failed why) {
    if (job != null) {
      stopJob(why);
    }
    if (runnerSwitch != null) {
      runnerSwitch.shutdown();
      runnerSwitch = null;
    }
    loop = null;
    calls.clear(); // children: they stop with the conversation
    if (tally != null) {
      tally.stopped();
      tally = null;
    }
    if (log != null) {
      log.close(why);
      log = null;
    }
  }

  // ---- the running turn ----------------------------------------------------------------------

  private TurnLog startRunner(String turnId, List<Model> candidates, ModelView view,
      TalonSettings.MidStream midStream) {
    log = TurnLog.held(turnId);
    consumeRun(turnId, runner.run(turnId, candidates, view, midStream), log);
    return log;
  }

  /** Runs one model call of the turn into its log; its outcome comes back as a runner message. */
  private void consumeRun(String turnId, Source<TurnEvent, NotUsed> events, TurnLog into) {
    NodeMetrics.TurnCount counting = tally; // read here: the stream runs on other threads
    Pair<UniqueKillSwitch, CompletionStage<Optional<TurnEvent>>> running = consume(events, into, TURN_OUTCOME,
        event -> {
          if (event instanceof TurnEvent.Compacted compacted) {
            context.getSelf().tell(new RunnerCompacted(turnId, compacted.compaction()));
          }
          if (counting != null) {
            counting.on(event);
          }
        });
    context.pipeToSelf(running.second(), (outcome, error) -> runnerFinished(turnId, outcome, error));
    runnerSwitch = running.first();
  }

  private static final Predicate<TurnEvent> TURN_OUTCOME =
      event -> event instanceof TurnEvent.Completed || event instanceof TurnEvent.Failed;
  private static final Predicate<TurnEvent> COMPACTION_OUTCOME =
      event -> event instanceof TurnEvent.Compacted || event instanceof TurnEvent.Failed;

  /**
   * Runs {@code events} into {@code into}, all but the outcome, which the stage completes with:
   * it is appended once journaled. {@code onEvent} sees every other event first.
   */
  private Pair<UniqueKillSwitch, CompletionStage<Optional<TurnEvent>>> consume(Source<TurnEvent, NotUsed> events,
      TurnLog into, Predicate<TurnEvent> isOutcome, Consumer<TurnEvent> onEvent) {
    return events.viaMat(KillSwitches.single(), Keep.right())
        .toMat(Sink.fold(Optional.<TurnEvent>empty(), (outcome, event) -> {
          if (isOutcome.test(event)) {
            return Optional.of(event);
          }
          onEvent.accept(event);
          into.append(event);
          return outcome;
        }), Keep.both())
        .run(materializer);
  }

  // ---- compactions outside a turn ------------------------------------------------------------

  /**
   * After a turn: when the view with room for a next message as long as the longest the view
   * holds would not fit the model the next turn calls, compact now, while the user reads, rather
   * than ahead of that turn's answer.
   */
  private void compactIfOverBudget(State state) {
    TurnPlan next = TurnPlan.next(catalog, state.lastTurn());
    if (next.agent().compaction().enabled() && !viewAhead(state, next)
        .fits(next.candidates().get(0), state.longestInput())) {
      startJob(state, Compaction.THRESHOLD, null);
    }
  }

  /** Starts a compaction outside a turn, of a conversation that has turns. */
  private Job startJob(State state, String trigger, String focus) {
    TurnPlan next = TurnPlan.next(catalog, state.lastTurn());
    ModelView view = viewAhead(state, next);
    String id = "compaction-" + UUID.randomUUID();
    TurnLog jobLog = TurnLog.held(id);
    jobLog.release();
    Pair<UniqueKillSwitch, CompletionStage<Optional<TurnEvent>>> running = consume(
        // Asked for, it folds at least half of what there is, even when everything would fit.
        compaction.run(view, next.candidates().get(0), trigger, focus, Compaction.MANUAL.equals(trigger) ? 1 : 0),
        jobLog, COMPACTION_OUTCOME, event -> { });
    job = new Job(id, trigger, jobLog, running.first());
    context.pipeToSelf(running.second(), (outcome, error) -> new JobFinished(id, outcome == null || outcome.isEmpty()
        ? new TurnEvent.Failed("the compaction ended without an outcome: " + error, INTERNAL, List.of())
        : outcome.get()));
    return job;
  }

  private void stopJob(TurnEvent.Failed why) {
    job.stop().shutdown();
    job.log().close(why);
    job = null;
  }

  private static Command runnerFinished(String turnId, Optional<TurnEvent> outcome, Throwable error) {
    TurnEvent last = outcome == null ? null : outcome.orElse(null);
    if (last instanceof TurnEvent.Completed completed) {
      return new RunnerCompleted(turnId, completed.result());
    }
    if (last instanceof TurnEvent.Failed failed) {
      return new RunnerFailed(turnId, failed);
    }
    String reason = error != null ? "the turn runner failed: " + error : "the turn runner ended without an outcome";
    return new RunnerFailed(turnId, new TurnEvent.Failed(reason, INTERNAL, List.of()));
  }

  /**
   * Stops the runner now, before the cancellation is journaled: no more tokens are paid for. The
   * running turn's tool calls stop too (see {@link #stopToolCalls}).
   */
  private TurnEvent.Failed stopRunner() {
    if (runnerSwitch != null) {
      runnerSwitch.shutdown();
      runnerSwitch = null;
    }
    return CANCELLATION;
  }

  /**
   * The events that journal the running turn's started tool calls as interrupted, with
   * {@code output} for the model; their children stop when the turn's log closes. A call may have
   * reached its server already; it is never run again.
   */
  private List<ToolCallFinished> stopToolCalls(String turnId, String output) {
    return loop == null ? List.of()
        : loop.stop(output).stream().map(call -> new ToolCallFinished(turnId, call)).toList();
  }

  private void closeLog(TurnEvent last) {
    runnerSwitch = null;
    loop = null;
    if (tally != null) {
      tally.on(last);
      tally = null;
    }
    calls.values().forEach(context::stop);
    calls.clear();
    log.close(last);
    if (handingOff) {
      context.getSelf().tell(HandOff.INSTANCE); // now idle: it stops
    }
  }

  private TurnEvents events(Source<TurnEvent, NotUsed> events, ActorRef<?> asker) {
    return TurnEvents.forAsker(events.map(List::of), asker, parcels, materializer);
  }

  private TurnEvents events(TurnLog log, int fromIndex, ActorRef<?> asker) {
    return TurnEvents.forAsker(log.batches(fromIndex), asker, parcels, materializer);
  }

  /** The view's size against the budget of the model the next turn would call first. */
  private Context context(State state) {
    Turn last = state.lastTurn();
    if (last == null) {
      return new Context(0, null, 0, state.compactions(), state.latest(), state.turnCount(), 0, false);
    }
    TurnPlan next = TurnPlan.next(catalog, last);
    Model model = next.candidates().get(0);
    ModelView view = viewAhead(state, next);
    return new Context(view.tokens(), model.ref(), view.budget(model).promptTokens(), state.compactions(),
        state.latest(), state.turnCount(), state.turns().size(), job != null);
  }

  /** The view as the next turn would find it, before its own input. */
  private static ModelView viewAhead(State state, TurnPlan next) {
    return state.view(null, ModelRequest.of(null, List.of()), next.compacting());
  }

  private static TurnFailed failed(String turnId, TurnEvent.Failed failure) {
    return new TurnFailed(turnId, failure.reason(), failure.kind(), failure.attempts());
  }
}
