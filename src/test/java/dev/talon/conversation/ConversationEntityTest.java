package dev.talon.conversation;

import static dev.talon.conversation.ConversationFixtures.userSays;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.json.JsonMapper;
import com.typesafe.config.ConfigFactory;
import dev.talon.config.ConfigLoader;
import dev.talon.config.Model;
import dev.talon.config.ModelCatalog;
import dev.talon.config.McpSettings;
import dev.talon.config.TalonSettings;
import dev.talon.conversation.ConversationEntity.Busy;
import dev.talon.conversation.ConversationEntity.CancelTurn;
import dev.talon.conversation.ConversationEntity.Cancelled;
import dev.talon.conversation.ConversationEntity.Command;
import dev.talon.conversation.ConversationEntity.Compact;
import dev.talon.conversation.ConversationEntity.Context;
import dev.talon.conversation.ConversationEntity.Delete;
import dev.talon.conversation.ConversationEntity.Event;
import dev.talon.conversation.ConversationEntity.GetContext;
import dev.talon.conversation.ConversationEntity.GetTranscript;
import dev.talon.conversation.ConversationEntity.NotRunning;
import dev.talon.conversation.ConversationEntity.Rejected;
import dev.talon.conversation.ConversationEntity.PreviousNotLatest;
import dev.talon.conversation.ConversationEntity.StartReply;
import dev.talon.conversation.ConversationEntity.StartTurn;
import dev.talon.conversation.ConversationEntity.State;
import dev.talon.conversation.ConversationEntity.Status;
import dev.talon.conversation.ConversationEntity.Subscribe;
import dev.talon.conversation.ConversationEntity.Subscribed;
import dev.talon.conversation.ConversationEntity.Transcript;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.conversation.ConversationEntity.TurnAccepted;
import dev.talon.conversation.ConversationEntity.ToolCallFinished;
import dev.talon.conversation.ConversationEntity.ToolCallStarted;
import dev.talon.conversation.ConversationEntity.TurnCompleted;
import dev.talon.conversation.ConversationEntity.TurnFailed;
import dev.talon.conversation.ConversationEntity.TurnInterrupted;
import dev.talon.conversation.ConversationEntity.TurnStarted;
import dev.talon.conversation.ConversationEntity.UnknownPrevious;
import dev.talon.conversation.ConversationEntity.UnknownTurn;
import dev.talon.tools.McpServers;
import dev.talon.upstream.ModelRequest;
import dev.talon.upstream.ModelRequest.Role;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Predicate;
import org.apache.pekko.Done;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.EntityContext;
import org.apache.pekko.pattern.StatusReply;
import org.apache.pekko.persistence.testkit.ProcessingSuccess;
import org.apache.pekko.persistence.testkit.WriteEvents;
import org.apache.pekko.persistence.testkit.javadsl.EventSourcedBehaviorTestKit;
import org.apache.pekko.persistence.testkit.javadsl.EventSourcedBehaviorTestKit.CommandResultWithReply;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** The entity's command/event/state table on the in-memory journal; the testkit checks serialization. */
class ConversationEntityTest {
  static final ActorTestKit testKit = ActorTestKit.create("ConversationEntityTest",
      EventSourcedBehaviorTestKit.config().withFallback(ConfigFactory.load()));
  static final ModelCatalog catalog = ConversationFixtures.config().catalog();
  static final Duration BACKOFF = Duration.ofMillis(100);
  static final TalonSettings.Conversations SETTINGS =
      new TalonSettings.Conversations(100, Duration.ofMinutes(10), 1000, BACKOFF, BACKOFF);
  static final AtomicInteger sessions = new AtomicInteger();
  /** None of these agents calls tools: the node has no MCP servers. */
  static final McpServers NO_TOOLS = McpServers.start(testKit.system(), McpSettings.NONE);

  final ScriptedTurnRunner runner = new ScriptedTurnRunner();
  final NodeMetrics metrics = new NodeMetrics(catalog.models());
  final TestProbe<ClusterSharding.ShardCommand> shard = testKit.createTestProbe();
  EventSourcedBehaviorTestKit<Command, Event, State> kit = entity(SETTINGS);

  @AfterAll
  static void shutdown() {
    testKit.shutdownTestKit();
  }

  EventSourcedBehaviorTestKit<Command, Event, State> entity(TalonSettings.Conversations settings) {
    return entity(settings, catalog);
  }

  EventSourcedBehaviorTestKit<Command, Event, State> entity(TalonSettings.Conversations settings,
      ModelCatalog models) {
    EntityContext<Command> context =
        new EntityContext<>(ConversationEntity.TYPE_KEY, "session-" + sessions.incrementAndGet(), shard.ref());
    // Events and state must survive serialization; commands and replies are not checked here, because
    // a reply to an asker on this node carries the turn's events themselves, never serialized
    // (TwoNodeTest sends commands and replies between nodes).
    return EventSourcedBehaviorTestKit.create(testKit.system(),
        ConversationEntity.create(context, models, runner, settings, this::erase, this::turnInJournal, metrics,
            NO_TOOLS),
        EventSourcedBehaviorTestKit.enabledSerializationSettings().withVerifyCommands(false));
  }

  /** The fixture's agents on models with a 4,096-token window: a prompt budget of 2,048. */
  static final ModelCatalog SMALL_WINDOWS = smallWindows("");

  static ModelCatalog smallWindows(String compaction) {
    return ConfigLoader.parse("""
        { agents: { defaults: { model: { primary: "local/alpha" }, compaction: { %s } } },
          models: { mode: "replace", providers: { local: { baseUrl: "http://127.0.0.1:1/v1", apiKey: "none",
            api: "openai-completions", models: [{ id: "alpha", contextWindow: 4096, maxTokens: 512 }] } } } }
        """.formatted(compaction), "small.json5", Map.<String, String>of()::get).catalog();
  }

  /** The in-memory journal's own erasure; {@link #eraseFailure} makes it fail instead. */
  CompletableFuture<Done> erase(String persistenceId) {
    if (eraseFailure != null) {
      return CompletableFuture.failedFuture(eraseFailure);
    }
    kit.persistenceTestKit().clearByPersistenceId(persistenceId);
    kit.snapshotTestKit().orElseThrow().clearByPersistenceId(persistenceId);
    return CompletableFuture.completedFuture(Done.getInstance());
  }

  RuntimeException eraseFailure;

  /** The turn as the in-memory journal has it, as the Persistence Query reader would find it. */
  CompletableFuture<Optional<Turn>> turnInJournal(String persistenceId, String turnId) {
    TurnReplay replay = new TurnReplay();
    List<TurnReplay.Numbered> turns = new ArrayList<>();
    kit.persistenceTestKit().persistedInStorage(persistenceId).forEach(event ->
        turns.addAll(replay.apply((Event) event)));
    replay.last().ifPresent(turns::add);
    return CompletableFuture.completedFuture(turns.stream().map(TurnReplay.Numbered::turn)
        .filter(turn -> turn.turnId().equals(turnId)).findFirst());
  }

  String persistenceId() {
    return "Conversation|session-" + sessions.get();
  }

  CommandResultWithReply<Command, Event, State, StartReply> start(String agentId, String model, ModelRequest turn) {
    return kit.runCommand(replyTo -> StartTurn.of(agentId, model, turn, null, true, false, null, null, List.of(), replyTo));
  }

  CommandResultWithReply<Command, Event, State, StartReply> startAfter(String previousTurnId, boolean store,
      String userText) {
    return kit.runCommand(replyTo -> StartTurn.of(null, null, userSays(userText), previousTurnId, store, false,
        null, null, List.of(), replyTo));
  }

  StatusReply<Done> delete(Instant unusedSince) {
    return kit.<StatusReply<Done>>runCommand(replyTo -> new Delete(unusedSince, replyTo)).reply();
  }

  TurnAccepted accepted(String userText) {
    return start(null, null, userSays(userText)).replyOfType(TurnAccepted.class);
  }

  static List<TurnEvent> collect(TurnEvents events) throws Exception {
    return events.source().runWith(Sink.seq(), testKit.system()).toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  /** Runs a whole turn and returns its events (the last one is journaled by the time it is seen). */
  List<TurnEvent> turn(String userText) throws Exception {
    return collect(accepted(userText).events());
  }

  State awaitState(Predicate<State> condition) {
    return testKit.createTestProbe().awaitAssert(Duration.ofSeconds(10), () -> {
      State state = kit.getState();
      assertTrue(condition.test(state), () -> "state is " + state);
      return state;
    });
  }

  static InputItem user(String text) {
    return new InputItem.Message(Role.USER, text);
  }

  /**
   * A node that leaves hands its conversations over. A turn asked through this node has had the
   * gateway's drain: it stops with the node, read back interrupted. (A turn asked from another
   * node finishes first: ClusterIT stops a node under its clients.)
   */
  @Test
  void aHandOffStopsTheConversationAndATurnAskedHereWithIt() throws Exception {
    EntityContext<Command> context =
        new EntityContext<>(ConversationEntity.TYPE_KEY, "session-" + sessions.incrementAndGet(), shard.ref());
    ActorRef<Command> entity = testKit.spawn(ConversationEntity.create(context, catalog, runner, SETTINGS,
        this::erase, this::turnInJournal, metrics, NO_TOOLS));
    TestProbe<StartReply> replies = testKit.createTestProbe();
    TestProbe<Object> watcher = testKit.createTestProbe();
    runner.hold("never ", "finished");
    entity.tell(StartTurn.of(null, null, userSays("hi"), null, true, false, null, null, List.of(),
        replies.ref()));
    TurnAccepted accepted = (TurnAccepted) replies.receiveMessage();

    entity.tell(ConversationEntity.HandOff.INSTANCE);
    watcher.expectTerminated(entity);
    List<TurnEvent> events = collect(accepted.events());
    TurnEvent.Failed failed = assertInstanceOf(TurnEvent.Failed.class, events.get(events.size() - 1));
    assertEquals(ConversationEntity.INTERRUPTED, failed.kind());
  }

  /**
   * A conversation that asked its shard to let it go may still get a turn the shard had already
   * passed on: the shard's stop then finds that turn running, and lets it finish before the
   * conversation stops (it failed, "stopped during the turn", under a load of continued
   * conversations on a crowded node).
   */
  @Test
  void aTurnThatArrivedAfterTheConversationAskedToLeaveFinishesBeforeItStops() throws Exception {
    EntityContext<Command> context =
        new EntityContext<>(ConversationEntity.TYPE_KEY, "session-" + sessions.incrementAndGet(), shard.ref());
    ActorRef<Command> entity = testKit.spawn(ConversationEntity.create(context, catalog, runner,
        new TalonSettings.Conversations(100, Duration.ofMinutes(10), 0, BACKOFF, BACKOFF),
        this::erase, this::turnInJournal, metrics, NO_TOOLS));
    TestProbe<StartReply> replies = testKit.createTestProbe();
    TestProbe<Object> watcher = testKit.createTestProbe();
    entity.tell(StartTurn.of(null, null, userSays("hi"), null, true, false, null, null, List.of(),
        replies.ref()));
    collect(((TurnAccepted) replies.receiveMessage()).events());
    shard.expectMessageClass(ClusterSharding.Passivate.class, Duration.ofSeconds(5)); // crowded: it asks to go

    ScriptedTurnRunner.Script script = runner.hold("still ", "here");
    entity.tell(StartTurn.of(null, null, userSays("and then?"), null, true, false, null, null, List.of(),
        replies.ref()));
    TurnAccepted next = (TurnAccepted) replies.receiveMessage();
    entity.tell(ConversationEntity.HandOff.INSTANCE); // the shard's answer to the Passivate
    script.release();
    List<TurnEvent> events = collect(next.events());
    assertInstanceOf(TurnEvent.Completed.class, events.get(events.size() - 1), events::toString);
    watcher.expectTerminated(entity);
  }

  @Test
  void startJournalsTheInputAndAnswersWithTheLiveTurn() throws Exception {
    ScriptedTurnRunner.Script script = runner.hold("Hel", "lo");
    var result = start(null, null, userSays("hi"));

    TurnAccepted accepted = result.replyOfType(TurnAccepted.class);
    TurnStarted started = result.eventOfType(TurnStarted.class);
    assertEquals(accepted.turnId(), started.turnId());
    assertEquals(List.of(user("hi")), started.input());
    assertEquals("main", started.agentId());
    assertNull(started.requestedModel());
    assertEquals(Status.RUNNING, result.state().runningTurn().status());

    script.release();
    List<TurnEvent> events = collect(accepted.events());
    assertEquals(List.of(new TurnEvent.Started(accepted.turnId(), "local/alpha"), new TurnEvent.TextDelta("Hel"),
        new TurnEvent.TextDelta("lo")), events.subList(0, 3));
    TurnEvent.Completed completed = assertInstanceOf(TurnEvent.Completed.class, events.get(3));
    assertEquals("Hello", completed.result().text());

    // Completed reaches subscribers only after TurnCompleted is journaled.
    Turn turn = kit.getState().turns().get(0);
    assertEquals(Status.COMPLETED, turn.status());
    assertEquals(completed.result(), turn.result());
    assertTrue(kit.getState().idle());
  }

  @Test
  void theModelCallStartsWhileTheInputIsBeingJournaled() throws Exception {
    CountDownLatch journalWrite = new CountDownLatch(1);
    kit.persistenceTestKit().withPolicy((persistenceId, operation) -> {
      if (operation instanceof WriteEvents) {
        try {
          journalWrite.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      return ProcessingSuccess.getInstance();
    });
    try {
      CompletableFuture<StartReply> reply =
          CompletableFuture.supplyAsync(() -> start(null, null, userSays("hi")).reply());
      runner.nextCall();
      assertFalse(reply.isDone(), "no answer before the input is journaled");
      journalWrite.countDown();
      assertInstanceOf(TurnAccepted.class, reply.get(10, TimeUnit.SECONDS));
    } finally {
      kit.persistenceTestKit().resetPolicy();
    }
  }

  /** An input the journal could not write is answered by nothing but a storage failure. */
  @Test
  void aFailedInputWriteShowsNoAnswerAndTheConversationRestarts() throws Exception {
    ScriptedTurnRunner.Script script = runner.answer("Hel", "lo");
    kit.persistenceTestKit().failNextPersisted();
    TurnAccepted accepted = accepted("hi");

    List<TurnEvent> events = collect(accepted.events());
    TurnEvent.Failed failed = assertInstanceOf(TurnEvent.Failed.class, events.get(0));
    assertEquals(List.of(new TurnEvent.Failed(failed.reason(), ConversationEntity.STORAGE, List.of())), events);
    script.terminated().get(10, TimeUnit.SECONDS);

    // restarted after the backoff, from the journal: the input was never written
    assertEquals(State.EMPTY, awaitState(State::idle));
    runner.answer("again");
    List<TurnEvent> next = turn("hi again");
    assertInstanceOf(TurnEvent.Completed.class, next.get(next.size() - 1));
    assertEquals(List.of(List.of(user("hi again"))), kit.getState().turns().stream().map(Turn::input).toList());
  }

  /** The answer was seen but its outcome could not be written: the journal's turn ends interrupted. */
  @Test
  void aFailedOutcomeWriteEndsTheTurnWithAStorageFailureAndRecoveryInterruptsIt() throws Exception {
    ScriptedTurnRunner.Script script = runner.hold("Hel", "lo");
    TurnAccepted accepted = accepted("hi");
    kit.persistenceTestKit().failNextPersisted();
    script.release();

    List<TurnEvent> events = collect(accepted.events());
    assertEquals(List.of(new TurnEvent.Started(accepted.turnId(), "local/alpha"), new TurnEvent.TextDelta("Hel"),
        new TurnEvent.TextDelta("lo")), events.subList(0, 3));
    assertEquals(ConversationEntity.STORAGE, assertInstanceOf(TurnEvent.Failed.class, events.get(3)).kind());
    State state = awaitState(s -> !s.turns().isEmpty() && s.turns().get(0).status() == Status.INTERRUPTED);
    assertEquals(List.of(user("hi")), state.turns().get(0).input());
  }

  @Test
  void oneTurnAtATime() throws Exception {
    ScriptedTurnRunner.Script script = runner.hold("a");
    TurnAccepted first = accepted("one");

    var second = start(null, null, userSays("two"));
    assertEquals(new Busy(first.turnId()), second.reply());
    assertTrue(second.hasNoEvents());

    script.release();
    collect(first.events());
    assertInstanceOf(TurnAccepted.class, start(null, null, userSays("three")).reply());
  }

  @Test
  void cancelStopsTheRunnerAndJournalsACancelledTurn() throws Exception {
    ScriptedTurnRunner.Script script = runner.hold("partial");
    TurnAccepted accepted = accepted("write a novel");

    var cancel = kit.<ConversationEntity.CancelReply>runCommand(replyTo -> new CancelTurn(null, replyTo));
    assertEquals(new Cancelled(accepted.turnId()), cancel.reply());
    TurnFailed failed = cancel.eventOfType(TurnFailed.class);
    assertEquals(ConversationEntity.CANCELLED, failed.kind());
    script.terminated().get(10, TimeUnit.SECONDS); // the upstream stream was stopped, never released

    List<TurnEvent> events = collect(accepted.events());
    assertEquals(new TurnEvent.TextDelta("partial"), events.get(1));
    assertEquals(ConversationEntity.CANCELLED, ((TurnEvent.Failed) events.get(events.size() - 1)).kind());
    assertEquals(Status.FAILED, kit.getState().turns().get(0).status());

    // The cancelled runner's own ending must not end the next turn.
    ScriptedTurnRunner.Script next = runner.hold("b");
    TurnAccepted nextTurn = accepted("a haiku then");
    assertEquals(nextTurn.turnId(), kit.getState().runningTurn().turnId());
    assertEquals(new NotRunning("other"),
        kit.<ConversationEntity.CancelReply>runCommand(replyTo -> new CancelTurn("other", replyTo)).reply());
    next.release();
    assertInstanceOf(TurnEvent.Completed.class, collect(nextTurn.events()).get(2));
    assertEquals(new NotRunning(null),
        kit.<ConversationEntity.CancelReply>runCommand(replyTo -> new CancelTurn(null, replyTo)).reply());
  }

  @Test
  void aFailedTurnIsJournaledWithItsAttempts() throws Exception {
    runner.fail("upstream down", "half an ans");
    List<TurnEvent> events = turn("hi");

    TurnEvent.Failed failed = assertInstanceOf(TurnEvent.Failed.class, events.get(events.size() - 1));
    Turn turn = kit.getState().turns().get(0);
    assertEquals(Status.FAILED, turn.status());
    assertEquals(new ConversationEntity.Failure("upstream down", "SERVER_ERROR", failed.attempts()), turn.failure());
    assertEquals(1, turn.failure().attempts().size());
    assertNull(turn.result());
  }

  @Test
  void theModelSeesEarlierTurnsAndKeepsTheInputOfFailedOnes() throws Exception {
    runner.answer("Hello!");
    turn("hi");
    runner.fail("boom", "never seen");
    turn("are you there?");
    runner.answer("Yes.");
    turn("again");

    ScriptedTurnRunner.Call first = runner.nextCall();
    assertEquals(List.of(new ModelRequest.Message(Role.USER, "hi")), first.request().input());
    assertEquals(List.of("local/alpha", "local/beta"), first.candidates().stream().map(Model::ref).toList());
    runner.nextCall();
    assertEquals(List.of(
            new ModelRequest.Message(Role.USER, "hi"),
            new ModelRequest.Message(Role.ASSISTANT, "Hello!"),
            new ModelRequest.Message(Role.USER, "are you there?"),
            new ModelRequest.Message(Role.USER, "again")),
        runner.nextCall().request().input());
  }

  /** A turn of a client that sends its whole history, {@code items} in turn. */
  TurnStarted resend(ModelRequest.Item... items) {
    return start(null, null, ModelRequest.of(null, List.of(items))).eventOfType(TurnStarted.class);
  }

  @Test
  void aTurnThatResendsTheWholeConversationBringsOnlyWhatFollowsIt() throws Exception {
    ModelRequest.Item hi = new ModelRequest.Message(Role.USER, "hi");
    ModelRequest.Item hello = new ModelRequest.Message(Role.ASSISTANT, "Hello!");
    ModelRequest.Item there = new ModelRequest.Message(Role.USER, "are you there?");
    ModelRequest.Item again = new ModelRequest.Message(Role.USER, "again");
    runner.answer("Hello!");
    collect(accepted("hi").events());
    runner.fail("boom", "never seen");
    assertEquals(List.of(user("are you there?")), resend(hi, hello, there).input());
    awaitState(State::idle);
    runner.answer("Yes.");
    assertEquals(List.of(user("again")), resend(hi, hello, there, again).input());
    runner.nextCall();
    runner.nextCall();
    assertEquals(List.of(hi, hello, there, again), runner.nextCall().request().input(), "each item once");
    awaitState(State::idle);

    // Not the whole conversation from its start, or nothing after it: all of it is new input.
    runner.answer("ok");
    assertEquals(List.of(user("are you there?"), user("again"), user("more")),
        resend(there, again, new ModelRequest.Message(Role.USER, "more")).input());
    awaitState(State::idle);
    List<ModelRequest.Item> whole = kit.getState().turns().stream().flatMap(turn -> turn.modelView().stream()).toList();
    runner.answer("ok");
    assertEquals(whole.size(), resend(whole.toArray(ModelRequest.Item[]::new)).input().size());
  }

  @Test
  void aResentFunctionCallMatchesByItsIdWhateverTheSpacingOfItsArguments() throws Exception {
    runner.answer("Cold.");
    collect(start(null, null, ModelRequest.of(null, List.of(
        new ModelRequest.FunctionCall("call_1", "weather", "{\"city\": \"Oslo\"}"),
        new ModelRequest.FunctionCallOutput("call_1", "-3")))).replyOfType(TurnAccepted.class).events());
    runner.answer("You are welcome.");
    assertEquals(List.of(user("thanks")), resend(
        new ModelRequest.FunctionCall("call_1", "weather", "{\"city\":\"Oslo\"}"),
        new ModelRequest.FunctionCallOutput("call_1", "-3"), new ModelRequest.Message(Role.ASSISTANT, "Cold."),
        new ModelRequest.Message(Role.USER, "thanks")).input());
  }

  @Test
  void toolCallsAndOptionsReachTheModel() throws Exception {
    ModelRequest.Tool weather = new ModelRequest.Tool("weather", "Looks up the weather",
        JsonMapper.builder().build().readTree("{\"type\":\"object\",\"properties\":{\"city\":{\"type\":\"string\"}}}"),
        true);
    ModelRequest turn = new ModelRequest("Be brief.", List.of(
        new ModelRequest.FunctionCall("call_1", "weather", "{\"city\":\"Oslo\"}"),
        new ModelRequest.FunctionCallOutput("call_1", "{\"celsius\":-3}")),
        List.of(weather), "auto", 256, 0.2, "low");
    var result = start("main", "local/beta", turn); // the testkit verifies the command serializes, tools included

    assertInstanceOf(TurnAccepted.class, result.reply());
    TurnStarted started = result.eventOfType(TurnStarted.class);
    assertEquals("local/beta", started.requestedModel());
    assertEquals(List.of(new InputItem.FunctionCall("call_1", "weather", "{\"city\":\"Oslo\"}"),
        new InputItem.FunctionCallOutput("call_1", "{\"celsius\":-3}")), started.input());

    ScriptedTurnRunner.Call call = runner.nextCall();
    assertEquals(turn, call.request());
    assertEquals(List.of("local/beta", "local/alpha"), call.candidates().stream().map(Model::ref).toList());
  }

  @Test
  void unknownAgentsAndModelsAndEmptyInputAreRejected() {
    var unknownAgent = start("nobody", null, userSays("hi"));
    assertEquals(new Rejected("unknown agent \"nobody\""), unknownAgent.reply());
    assertTrue(unknownAgent.hasNoEvents());

    Rejected unknownModel = start(null, "local/gamma", userSays("hi")).replyOfType(Rejected.class);
    assertTrue(unknownModel.reason().contains("gamma"), unknownModel.reason());

    assertEquals(new Rejected("the turn has no input"), start(null, null, ModelRequest.of(null, List.of())).reply());
    assertTrue(kit.getState().turns().isEmpty());
  }

  @Test
  void subscribersReplayTheTurnFromAnyIndex() throws Exception {
    ScriptedTurnRunner.Script script = runner.hold("a", "b", "c");
    TurnAccepted accepted = accepted("abc?");
    Subscribed reconnected = kit.<ConversationEntity.SubscribeReply>runCommand(
        replyTo -> new Subscribe(accepted.turnId(), 2, replyTo)).replyOfType(Subscribed.class);
    script.release();

    List<TurnEvent> all = collect(accepted.events());
    assertEquals(all.subList(2, all.size()), collect(reconnected.events()));
    // After the turn: the last turn stays readable, by id or as "the last one".
    Subscribed last = kit.<ConversationEntity.SubscribeReply>runCommand(replyTo -> new Subscribe(null, 0, replyTo))
        .replyOfType(Subscribed.class);
    assertEquals(accepted.turnId(), last.turnId());
    assertEquals(all, collect(last.events()));
    assertEquals(new UnknownTurn("nope"),
        kit.<ConversationEntity.SubscribeReply>runCommand(replyTo -> new Subscribe("nope", 0, replyTo)).reply());
  }

  @Test
  void aSubscriberThatLeavesDoesNotStopTheTurn() throws Exception {
    ScriptedTurnRunner.Script script = runner.hold("still ", "here");
    TurnAccepted accepted = accepted("hi");
    TurnEvent first = accepted.events().source().take(1).runWith(Sink.head(), testKit.system())
        .toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertInstanceOf(TurnEvent.Started.class, first);

    script.release();
    State state = awaitState(State::idle);
    assertEquals("still here", state.turns().get(0).result().text());
  }

  @Test
  void previousTurnIdMustNameTheLatestTurnAndTheEntityDecides() throws Exception {
    runner.answer("one");
    TurnAccepted first = accepted("1");
    collect(first.events());
    assertEquals(new UnknownPrevious("nope"), startAfter("nope", true, "x").reply());

    runner.answer("two");
    TurnAccepted second = startAfter(first.turnId(), true, "2").replyOfType(TurnAccepted.class);
    collect(second.events());
    var stale = startAfter(first.turnId(), true, "branch");
    assertEquals(new PreviousNotLatest(first.turnId(), second.turnId()), stale.reply());
    assertTrue(stale.hasNoEvents());

    // Two requests naming the same turn, one after the other in the mailbox: the first wins.
    ScriptedTurnRunner.Script held = runner.hold("three");
    startAfter(second.turnId(), true, "3a").replyOfType(TurnAccepted.class);
    assertInstanceOf(Busy.class, startAfter(second.turnId(), true, "3b").reply());
    held.release();
    State state = awaitState(State::idle);
    assertEquals(List.of(List.of(user("1")), List.of(user("2")), List.of(user("3a"))),
        state.turns().stream().map(Turn::input).toList());
  }

  @Test
  void anUnstoredTurnSeesTheConversationButLeavesNoTrace() throws Exception {
    runner.answer("Hi Ada.");
    TurnAccepted first = accepted("I am Ada");
    collect(first.events());
    runner.answer("Ada.");
    var unstored = startAfter(first.turnId(), false, "who am I?");
    List<TurnEvent> events = collect(unstored.replyOfType(TurnAccepted.class).events());
    assertEquals("Ada.", assertInstanceOf(TurnEvent.Completed.class, events.get(events.size() - 1)).result().text());
    assertTrue(unstored.hasNoEvents());
    assertEquals(1, kit.getState().turns().size());
    runner.nextCall();
    assertEquals(List.of(new ModelRequest.Message(Role.USER, "I am Ada"),
        new ModelRequest.Message(Role.ASSISTANT, "Hi Ada."), new ModelRequest.Message(Role.USER, "who am I?")),
        runner.nextCall().request().input());
  }

  /** The tag that the sweep's SQL finds is checked end to end (the testkit's journal drops tags). */
  @Test
  void aKeylessConversationsTurnsAreMarkedAsSuch() {
    var keyless = kit.<StartReply>runCommand(replyTo -> StartTurn.of(null, null, userSays("hi"), null, true, true, null,
        null, List.of(), replyTo));
    assertTrue(keyless.eventOfType(TurnStarted.class).keyless());
    awaitState(State::idle);
    assertFalse(start(null, null, userSays("named")).eventOfType(TurnStarted.class).keyless());
  }

  @Test
  void deleteCancelsARunningTurnErasesTheJournalAndStopsThroughTheShard() throws Exception {
    turn("remember 42");
    ScriptedTurnRunner.Script running = runner.hold("x");
    TurnAccepted longJob = accepted("long job");

    assertEquals(StatusReply.ack(), delete(null));
    running.terminated().get(10, TimeUnit.SECONDS);
    List<TurnEvent> events = collect(longJob.events());
    assertEquals(ConversationEntity.CANCELLED, ((TurnEvent.Failed) events.get(events.size() - 1)).kind());
    assertTrue(kit.persistenceTestKit().persistedInStorage(persistenceId()).isEmpty());
    shard.expectMessageClass(ClusterSharding.Passivate.class, Duration.ofSeconds(5));

    // The next incarnation recovers from the empty journal.
    kit.restart();
    assertEquals(State.EMPTY, kit.getState());
    turn("what number?");
    assertEquals(List.of(new ModelRequest.Message(Role.USER, "what number?")), runner.lastCall().request().input());
  }

  @Test
  void expiryKeepsAConversationUsedSinceTheSweepLookedAndAFailedEraseKeepsEverything() throws Exception {
    turn("recent");
    assertEquals(StatusReply.ack(), delete(Instant.now().minus(Duration.ofDays(1))));
    assertEquals(2, kit.persistenceTestKit().persistedInStorage(persistenceId()).size());

    ScriptedTurnRunner.Script running = runner.hold("x");
    accepted("long job");
    eraseFailure = new IllegalStateException("database gone");
    assertTrue(delete(null).isError());
    running.terminated().get(10, TimeUnit.SECONDS);
    Turn cancelled = awaitState(State::idle).turns().get(1);
    assertEquals(ConversationEntity.CANCELLED, cancelled.failure().kind());
    eraseFailure = null;
    turn("still here");
    assertEquals(3, kit.getState().turns().size());
  }

  @Test
  void aTurnLeftRunningByADeadProcessIsInterruptedOnRecovery() throws Exception {
    kit.initialize(new TurnStarted("dead-turn", List.of(user("are you there?")), "main", null, Instant.now(), false, null));

    // Commands wait until the interruption is journaled: nobody sees the dead turn as running.
    Transcript transcript = kit.runCommand(GetTranscript::new).reply();
    Turn turn = transcript.turns().get(0);
    assertEquals(Status.INTERRUPTED, turn.status());
    assertEquals(List.of(user("are you there?")), turn.input());
    kit.persistenceTestKit().expectNextPersisted(
        "Conversation|session-" + sessions.get(), new TurnInterrupted("dead-turn"));

    runner.answer("Yes.");
    List<TurnEvent> events = turn("hello?");
    assertInstanceOf(TurnEvent.Completed.class, events.get(events.size() - 1));
    assertEquals(List.of(new ModelRequest.Message(Role.USER, "are you there?"),
        new ModelRequest.Message(Role.USER, "hello?")), runner.nextCall().request().input());
  }

  @Test
  void aToolCallLeftRunningByADeadProcessIsInterruptedNotRunAgainAndShownSoToTheModel() throws Exception {
    OutputItem.McpCall done = new OutputItem.McpCall("call-1", "fs", "read_text_file", "fs__read_text_file",
        "{\"path\":\"a\"}", OutputItem.McpCall.Status.COMPLETED, "contents of a", 13);
    OutputItem.McpCall running = new OutputItem.McpCall("call-2", "fs", "write_file", "fs__write_file",
        "{\"path\":\"b\"}", OutputItem.McpCall.Status.RUNNING, null, 0);
    kit.initialize(new TurnStarted("dead-turn", List.of(user("copy a to b")), "main", null, Instant.now(), false, null),
        new ToolCallStarted("dead-turn", done.with(OutputItem.McpCall.Status.RUNNING, null, 0)),
        new ToolCallFinished("dead-turn", done), new ToolCallStarted("dead-turn", running));

    Turn turn = kit.runCommand(GetTranscript::new).reply().turns().get(0);
    assertEquals(Status.INTERRUPTED, turn.status());
    OutputItem.McpCall interrupted = running.with(OutputItem.McpCall.Status.INTERRUPTED,
        OutputItem.McpCall.INTERRUPTED_OUTPUT, 0);
    assertEquals(List.of(done, interrupted), turn.toolCalls());
    String persistenceId = "Conversation|session-" + sessions.get();
    kit.persistenceTestKit().expectNextPersisted(persistenceId, new ToolCallFinished("dead-turn", interrupted));
    kit.persistenceTestKit().expectNextPersisted(persistenceId, new TurnInterrupted("dead-turn"));

    runner.answer("b was perhaps not written.");
    turn("did it work?");
    assertEquals(List.of(new ModelRequest.Message(Role.USER, "copy a to b"),
        new ModelRequest.FunctionCall("call-1", "fs__read_text_file", "{\"path\":\"a\"}"),
        new ModelRequest.FunctionCallOutput("call-1", "contents of a"),
        new ModelRequest.FunctionCall("call-2", "fs__write_file", "{\"path\":\"b\"}"),
        new ModelRequest.FunctionCallOutput("call-2", OutputItem.McpCall.INTERRUPTED_OUTPUT),
        new ModelRequest.Message(Role.USER, "did it work?")), runner.nextCall().request().input());
  }

  @Test
  void aCompactionAskedForFoldsTheOlderTurnsIntoASummaryThatTheNextTurnIsSent() throws Exception {
    List<String> ids = new ArrayList<>();
    for (String text : List.of("one", "two", "three", "four")) {
      TurnAccepted accepted = accepted(text);
      collect(accepted.events());
      ids.add(accepted.turnId());
    }
    runner.lastCall();
    runner.answer("## Goal\ncount to four");
    TurnAccepted compaction = kit.<StartReply>runCommand(replyTo -> new Compact("the numbers", replyTo))
        .replyOfType(TurnAccepted.class);
    List<TurnEvent> events = collect(compaction.events());
    assertInstanceOf(TurnEvent.CompactionStarted.class, events.get(0));
    Compaction done = assertInstanceOf(TurnEvent.Compacted.class, events.get(events.size() - 1)).compaction();
    String asked = ((ModelRequest.Message) runner.lastCall().request().input().get(0)).text();
    assertTrue(asked.contains("the numbers") && asked.contains("[user] one"), asked);

    State state = awaitState(s -> s.latest() != null);
    assertEquals(done, state.latest());
    assertEquals(Compaction.MANUAL, done.trigger());
    assertEquals("## Goal\ncount to four", done.summary());
    assertEquals(4, state.turnCount());
    assertEquals(ids.subList(4 - state.turns().size(), 4), state.turns().stream().map(Turn::turnId).toList(),
        "the newest turns stay, whole");
    assertTrue(state.turns().size() < 4);
    kit.restart();
    assertEquals(state, kit.getState(), "the same view comes back from the journal, no model called");

    turn("five");
    List<ModelRequest.Item> sent = runner.lastCall().request().input();
    assertTrue(((ModelRequest.Message) sent.get(0)).text().endsWith("count to four"), sent::toString);
    // A folded turn is still one of the conversation's: naming it is "not the latest", not "unknown".
    assertInstanceOf(PreviousNotLatest.class, startAfter(ids.get(0), true, "six").reply());
    assertInstanceOf(UnknownPrevious.class, startAfter("no-such-turn", true, "six").reply());
  }

  @Test
  void aTurnThatLeavesTheViewOverBudgetIsCompactedRightAfterIt() throws Exception {
    kit = entity(SETTINGS, SMALL_WINDOWS);
    runner.answer("a".repeat(2000));
    turn("first");
    runner.answer("b".repeat(8000)); // 2,000 tokens more: over the budget of 2,048
    runner.answer("## Goal\nkeep going");
    TurnAccepted second = accepted("second");
    collect(second.events());
    State state = awaitState(s -> s.latest() != null);
    assertEquals(Compaction.THRESHOLD, state.latest().trigger());
    assertEquals(List.of(second.turnId()), state.turns().stream().map(Turn::turnId).toList());
  }

  @Test
  void turnedOffThereIsNoCompactionAfterATurn() throws Exception {
    kit = entity(SETTINGS, smallWindows("enabled: false"));
    runner.answer("a".repeat(2000));
    turn("first");
    runner.answer("b".repeat(8000));
    runner.hold("## Goal"); // a compaction after the turn would be held here, and show as running
    turn("second");
    Context context = kit.runCommand(GetContext::new).reply();
    assertTrue(context.tokens() > context.budgetTokens(), context::toString);
    assertFalse(context.compacting(), "only a turn that would not fit compacts now, in the turn");
  }

  @Test
  void aTurnStopsACompactionAfterATurnButNotOneAClientAskedFor() throws Exception {
    kit = entity(SETTINGS, SMALL_WINDOWS);
    runner.answer("a".repeat(2000));
    turn("first");
    runner.answer("b".repeat(8000));
    ScriptedTurnRunner.Script summary = runner.hold("## Goal");
    turn("second");
    awaitState(s -> true);
    assertTrue(kit.runCommand(GetContext::new).reply().compacting());
    assertInstanceOf(Busy.class, kit.<StartReply>runCommand(replyTo -> new Compact(null, replyTo)).reply());

    // The next turn does not wait for the background compaction: it stops it.
    TurnAccepted third = accepted("third");
    summary.terminated().get(10, TimeUnit.SECONDS);
    collect(third.events());
    // Still over budget after it: the conversation compacts again, this time to the end.
    State state = awaitState(s -> s.latest() != null);
    assertEquals("ok", state.latest().summary(), "written after the third turn, not by the stopped compaction");
    testKit.createTestProbe().awaitAssert(Duration.ofSeconds(10), () -> {
      assertFalse(kit.runCommand(GetContext::new).reply().compacting());
      return null;
    });

    // One a client asked for makes the next turn wait its turn.
    kit = entity(SETTINGS);
    turn("one");
    turn("two");
    ScriptedTurnRunner.Script asked = runner.hold("## Goal");
    kit.<StartReply>runCommand(replyTo -> new Compact(null, replyTo)).replyOfType(TurnAccepted.class);
    assertInstanceOf(Busy.class, start(null, null, userSays("fourth")).reply());
    asked.release();
    awaitState(s -> s.latest() != null);
  }

  @Test
  void aRecoveredConversationHasItsTranscriptFromSnapshotAndEvents() throws Exception {
    kit = entity(new TalonSettings.Conversations(3, Duration.ofMinutes(10), 1000, BACKOFF, BACKOFF));
    String persistenceId = "Conversation|session-" + sessions.get();
    runner.answer("4");
    turn("2+2?");
    runner.answer("6");
    turn("3+3?");
    // A snapshot after the third event (a turn in progress), then one more event.
    State snapshot = kit.snapshotTestKit().orElseThrow().expectNextPersistedClass(persistenceId, State.class);
    assertEquals(Status.RUNNING, snapshot.turns().get(1).status());

    kit.restart();
    Transcript transcript = kit.runCommand(GetTranscript::new).reply();
    assertEquals(List.of("4", "6"), transcript.turns().stream().map(t -> t.result().text()).toList());
    assertEquals(List.of(user("2+2?")), transcript.turns().get(0).input());
  }

  @Test
  void anIdleConversationAsksItsShardToPassivateItButNotDuringATurn() throws Exception {
    kit = entity(new TalonSettings.Conversations(100, Duration.ofMillis(300), 1000, BACKOFF, BACKOFF));
    ScriptedTurnRunner.Script script = runner.hold("slow");
    TurnAccepted accepted = accepted("think hard");
    shard.expectNoMessage(Duration.ofSeconds(1));

    script.release();
    collect(accepted.events());
    ClusterSharding.Passivate<?> passivate =
        shard.expectMessageClass(ClusterSharding.Passivate.class, Duration.ofSeconds(5));
    assertTrue(passivate.entity().path().name().length() > 0);
  }

  /**
   * A node crowded past maxResident does not keep a conversation for the idle timeout (here ten
   * minutes) once its turn has ended: each new conversation of a steady stream of stored turns
   * would otherwise stay, until the heap ran out.
   */
  @Test
  void aCrowdedNodeLetsAConversationGoAsSoonAsItsTurnEnds() throws Exception {
    kit = entity(new TalonSettings.Conversations(100, Duration.ofMinutes(10), 0, BACKOFF, BACKOFF));
    ScriptedTurnRunner.Script script = runner.hold("slow");
    TurnAccepted accepted = accepted("think hard");
    shard.expectNoMessage(Duration.ofMillis(500)); // a turn in flight keeps it

    script.release();
    collect(accepted.events());
    shard.expectMessageClass(ClusterSharding.Passivate.class, Duration.ofSeconds(5));
  }

  @Test
  void aNodeWithRoomKeepsAConversationAfterItsTurn() throws Exception {
    collect(accepted("2+2?").events());
    shard.expectNoMessage(Duration.ofSeconds(1));
  }
}
