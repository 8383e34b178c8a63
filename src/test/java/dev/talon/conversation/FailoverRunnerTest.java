package dev.talon.conversation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.config.ConfigLoader;
import dev.talon.config.Model;
import dev.talon.config.ModelCatalog;
import dev.talon.config.TalonSettings;
import dev.talon.testing.ErrorBodies;
import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Script;
import dev.talon.upstream.HttpModelClient;
import dev.talon.upstream.ModelRequest;
import dev.talon.upstream.ModelRequest.Message;
import dev.talon.upstream.ModelRequest.Role;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import java.util.stream.Stream;

/** Turn failover over the real HTTP client and the fake upstream: one decision per fault kind. */
class FailoverRunnerTest {
  static final ActorTestKit testKit = ActorTestKit.create();
  static final FakeUpstream fake = FakeUpstream.start(testKit.system());
  static final TalonSettings.Failover SETTINGS = new TalonSettings.Failover(2, Duration.ofMillis(10),
      Duration.ofMillis(40), Duration.ofSeconds(1), TalonSettings.Failover.DEFAULTS.cooldowns(), 3,
      TalonSettings.MidStream.CONTINUE);
  static final ModelCatalog catalog = ConfigLoader.parse("{ models: { mode: 'replace', providers: { "
      + "local: { baseUrl: '" + fake.baseUrl() + "', api: 'openai-responses', models: [{ id: 'a', cost: { input: 1, output: 2 } }] }, "
      + "backup: { baseUrl: '" + fake.baseUrl() + "', api: 'openai-completions', models: [{ id: 'b' }] } } },"
      + " agents: { defaults: { model: { primary: 'local/a', fallbacks: ['backup/b'] } } } }",
      "test", Map.<String, String>of()::get).catalog();
  static final ModelRequest HELLO = ModelRequest.of(null, List.of(new Message(Role.USER, "hello")));

  final MutableClock clock = new MutableClock();
  Cooldowns cooldowns;
  FailoverRunner runner;

  @AfterAll
  static void shutdown() {
    fake.close();
    testKit.shutdownTestKit();
  }

  @BeforeEach
  void setUp() {
    fake.setDefault(Script.reply("fallback answer"));
    cooldowns = new Cooldowns(SETTINGS.cooldowns(), clock);
    runner = new FailoverRunner(new HttpModelClient(testKit.system(), new TalonSettings.Upstream(
        Duration.ofSeconds(2), Duration.ofSeconds(2), Duration.ofMillis(500))), cooldowns, SETTINGS,
        new NodeMetrics(List.of()));
  }

  List<TurnEvent> turn(ModelRequest request) throws Exception {
    return turn(request, null);
  }

  List<TurnEvent> turn(ModelRequest request, TalonSettings.MidStream midStream) throws Exception {
    return turn(ModelView.of(request), midStream);
  }

  List<TurnEvent> turn(ModelView view, TalonSettings.MidStream midStream) throws Exception {
    int before = fake.requests().size();
    List<TurnEvent> events = runner.run("t1", catalog.defaultAgent().candidates(), view, midStream)
        .runWith(Sink.seq(), testKit.system()).toCompletableFuture().get(20, TimeUnit.SECONDS);
    calledModels = fake.requests().subList(before, fake.requests().size()).stream()
        .map(r -> r.body().path("model").asText()).toList();
    return events;
  }

  List<String> calledModels;

  static TurnResult result(List<TurnEvent> events) {
    TurnEvent last = events.get(events.size() - 1);
    return assertInstanceOf(TurnEvent.Completed.class, last, events::toString).result();
  }

  static List<TurnEvent.ModelSwitched> switches(List<TurnEvent> events) {
    return events.stream().filter(e -> e instanceof TurnEvent.ModelSwitched).map(e -> (TurnEvent.ModelSwitched) e).toList();
  }

  @Test
  void answersOnTheFirstTry() throws Exception {
    fake.enqueue(Script.reply("Hi there").usage(1000, 500));
    List<TurnEvent> events = turn(HELLO);
    assertEquals(new TurnEvent.Started("t1", "local/a"), events.get(0));
    TurnResult result = result(events);
    assertEquals("Hi there", result.text());
    assertEquals("local/a", result.model());
    assertEquals(1, result.attempts().size());
    assertTrue(result.attempts().get(0).succeeded());
    assertEquals(new TokenUsage(1000, 500, 0, 0), result.usage());
    assertEquals((1000 * 1 + 500 * 2) / 1e6, result.costUsd(), 1e-12);
    assertEquals("stop", result.finishReason());
    assertEquals(List.of("a"), calledModels);
  }

  @Test
  void aTransientFaultIsRetriedOnTheSameModel() throws Exception {
    fake.enqueue(Script.status(500, ErrorBodies.openAiServerError()), Script.status(503, ErrorBodies.llamaCppLoading()),
        Script.reply("third time lucky"));
    List<TurnEvent> events = turn(HELLO);
    assertEquals("third time lucky", result(events).text());
    assertEquals(List.of("a", "a", "a"), calledModels);
    assertEquals(List.of(), switches(events));
    assertEquals(java.util.Arrays.asList("SERVER_ERROR", "MODEL_LOADING", null),
        result(events).attempts().stream().map(Attempt::failureKind).toList());
    assertNull(cooldowns.coolingUntil(catalog.resolve("local/a")), "a success resets the cooldown");
  }

  @Test
  void spentRetriesMoveToTheNextCandidateAndCoolTheModelDown() throws Exception {
    fake.enqueue(Script.status(500, ErrorBodies.openAiServerError()), Script.status(500, ErrorBodies.openAiServerError()),
        Script.status(500, ErrorBodies.openAiServerError()), Script.reply("from b"));
    List<TurnEvent> events = turn(HELLO);
    assertEquals("from b", result(events).text());
    assertEquals("backup/b", result(events).model());
    assertEquals(List.of("a", "a", "a", "b"), calledModels);
    TurnEvent.ModelSwitched sw = switches(events).get(0);
    assertEquals("local/a", sw.fromModel());
    assertEquals("backup/b", sw.toModel());
    assertEquals(false, sw.discardOutput());
    assertEquals(clock.instant().plusSeconds(30), cooldowns.coolingUntil(catalog.resolve("local/a")));

    // The next turn skips the cooling model, while it cools; fallback is turn-local.
    fake.enqueue(Script.reply("b again"));
    List<TurnEvent> next = turn(HELLO);
    assertEquals(new TurnEvent.Started("t1", "backup/b"), next.get(0));
    assertEquals(List.of("b"), calledModels);
    clock.advance(Duration.ofSeconds(31));
    fake.enqueue(Script.reply("a is back"));
    assertEquals("local/a", result(turn(HELLO)).model());
  }

  /** Each transient fault the issue names, once: retried on the same model, which then answers. */
  static Stream<Arguments> transientFaults() {
    return Stream.of(
        Arguments.of("SERVER_ERROR", Script.status(500, ErrorBodies.openAiServerError())),
        Arguments.of("SERVER_ERROR", Script.status(408, ErrorBodies.openAi("timeout", "server_error", null, null))),
        Arguments.of("RATE_LIMIT", Script.status(429, ErrorBodies.openAiRateLimit()).retryAfter(Duration.ofMillis(50))),
        Arguments.of("OVERLOADED", Script.status(529, ErrorBodies.anthropicOverloaded())),
        Arguments.of("MODEL_LOADING", Script.status(503, ErrorBodies.llamaCppLoading())),
        Arguments.of("TRUNCATED", Script.reply("cut short").dropAfter(0)),
        Arguments.of("IDLE_TIMEOUT", Script.reply("one two three").stallAfter(1)));
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("transientFaults")
  void eachTransientFaultIsRetriedOnTheSameModel(String kind, Script fault) throws Exception {
    fake.enqueue(fault, Script.reply("recovered"));
    List<TurnEvent> events = turn(HELLO);
    assertEquals(kind.equals("IDLE_TIMEOUT") ? "onerecovered" : "recovered", result(events).text(),
        "text streamed before the fault stands and the retry goes on from it");
    assertEquals("local/a", result(events).model());
    assertEquals(List.of("a", "a"), calledModels);
    assertEquals(kind, result(events).attempts().get(0).failureKind());
  }

  @Test
  void aFirstTokenTimeoutMovesOnWithoutWaitingForTheSameModelAgain() throws Exception {
    // A server that hangs: its stream stalls, and the retry then gets no first token either.
    fake.enqueue(Script.reply("one two three").stallAfter(1),
        Script.reply("too late").firstTokenDelay(Duration.ofSeconds(3)), Script.reply("from b"));
    List<TurnEvent> events = turn(HELLO);
    assertEquals("backup/b", result(events).model());
    assertEquals(List.of("a", "a", "b"), calledModels);
    assertEquals(java.util.Arrays.asList("IDLE_TIMEOUT", "FIRST_TOKEN_TIMEOUT", null),
        result(events).attempts().stream().map(Attempt::failureKind).toList());
  }

  @Test
  void aRefusedConnectionIsRetriedThenTheNextCandidateAnswers() throws Exception {
    int closedPort;
    try (java.net.ServerSocket socket = new java.net.ServerSocket(0)) {
      closedPort = socket.getLocalPort();
    }
    ModelCatalog refusing = ConfigLoader.parse("{ agents: { defaults: { model: { primary: 'down/a', fallbacks: "
        + "['backup/b'] } } }, models: { mode: 'replace', providers: { "
        + "down: { baseUrl: 'http://127.0.0.1:" + closedPort + "/v1', api: 'openai-responses', models: [{ id: 'a' }] }, "
        + "backup: { baseUrl: '" + fake.baseUrl() + "', api: 'openai-completions', models: [{ id: 'b' }] } } } }",
        "refused", Map.<String, String>of()::get).catalog();
    fake.enqueue(Script.reply("from b"));
    List<TurnEvent> events = runner.run("t1", refusing.defaultAgent().candidates(), ModelView.of(HELLO), null)
        .runWith(Sink.seq(), testKit.system()).toCompletableFuture().get(20, TimeUnit.SECONDS);
    assertEquals("backup/b", result(events).model());
    assertEquals(java.util.Arrays.asList("CONNECTION_REFUSED", "CONNECTION_REFUSED", "CONNECTION_REFUSED", null),
        result(events).attempts().stream().map(Attempt::failureKind).toList(), "retried twice, then moved on");
  }

  @Test
  void faultsThatRetryingCannotCureMoveOnAtOnce() throws Exception {
    for (Script fault : List.of(Script.status(401, ErrorBodies.openAi("bad key", "invalid_request_error", null, "invalid_api_key")),
        Script.status(429, ErrorBodies.openAiInsufficientQuota()), Script.status(404, ErrorBodies.lmStudioNoModelsLoaded()),
        Script.status(400, ErrorBodies.openAi("bad", "invalid_request_error", null, null)))) {
      cooldowns = new Cooldowns(SETTINGS.cooldowns(), clock);
      setUpRunner();
      fake.enqueue(fault, Script.reply("from b"));
      List<TurnEvent> events = turn(HELLO);
      assertEquals("backup/b", result(events).model(), fault::toString);
      assertEquals(List.of("a", "b"), calledModels);
    }
  }

  void setUpRunner() {
    runner = new FailoverRunner(new HttpModelClient(testKit.system(), TalonSettings.Upstream.DEFAULTS), cooldowns, SETTINGS,
        new NodeMetrics(List.of()));
  }

  @Test
  void retryAfterIsHonouredUpToTheCap() throws Exception {
    fake.enqueue(Script.status(429, ErrorBodies.openAiRateLimit()).retryAfter(Duration.ofMillis(300)), Script.reply("ok"));
    long start = System.nanoTime();
    List<TurnEvent> events = turn(HELLO);
    assertTrue(System.nanoTime() - start >= 300_000_000L, "waited for Retry-After");
    assertEquals(List.of("a", "a"), calledModels);
    assertEquals("ok", result(events).text());

    fake.enqueue(Script.status(429, ErrorBodies.openAiRateLimit()).retryAfter(Duration.ofSeconds(60)), Script.reply("b"));
    assertEquals("backup/b", result(turn(HELLO)).model(), "a Retry-After beyond the cap moves on");
    assertEquals(List.of("a", "b"), calledModels);
  }

  @Test
  void aContextOverflowIsCompactedAndRetriedOnTheSameModel() throws Exception {
    List<Model> chain = catalog.defaultAgent().candidates();
    ModelView view = new ModelView("t1", ModelRequest.of(null, List.of(new Message(Role.USER, "second question"))),
        null, List.of(new ModelView.Earlier("t0", List.of(new Message(Role.USER, "first question ".repeat(50)),
            new Message(Role.ASSISTANT, "first answer ".repeat(50))))), null,
        new ModelView.Compacting(dev.talon.config.CompactionSettings.DEFAULTS, chain));
    fake.enqueue(Script.status(400, ErrorBodies.llamaCppContextOverflow(5000, 4096)),
        Script.reply("## Goal\nanswer the questions"), Script.reply("fits now"));
    List<TurnEvent> events = turn(view, null);
    assertEquals("fits now", result(events).text());
    assertEquals(List.of("a", "a", "a"), calledModels, "the summary too is written by the model that overflowed");
    TurnEvent.CompactionStarted started = (TurnEvent.CompactionStarted) events.stream()
        .filter(TurnEvent.CompactionStarted.class::isInstance).findFirst().orElseThrow();
    assertEquals(Compaction.OVERFLOW, started.trigger());
    assertEquals(1, started.foldedTurns());
    Compaction compaction = events.stream().filter(TurnEvent.Compacted.class::isInstance)
        .map(e -> ((TurnEvent.Compacted) e).compaction()).findFirst().orElseThrow();
    assertEquals("t1", compaction.firstKeptTurnId(), "every earlier turn is folded; the turn itself stays");
    assertTrue(compaction.tokensAfter() < compaction.tokensBefore());
    List<dev.talon.testing.Request> requests = fake.requests();
    com.fasterxml.jackson.databind.JsonNode input = requests.get(requests.size() - 1).body().path("input");
    assertEquals(2, input.size(), "the summary, then the turn's own input");
    assertTrue(input.get(0).toString().contains("answer the questions"), input.toString());
    assertNull(cooldowns.coolingUntil(catalog.resolve("local/a")), "an overflow does not cool a model down");
  }

  static String streamedText(List<TurnEvent> events) {
    return events.stream().filter(e -> e instanceof TurnEvent.TextDelta).map(e -> ((TurnEvent.TextDelta) e).text())
        .collect(java.util.stream.Collectors.joining());
  }

  @Test
  void aModelThatFailsAfterStreamingIsContinuedSoTheStreamedTextIsTheAnswer() throws Exception {
    fake.enqueue(Script.reply("One, two, three").dropAfter(4), Script.reply(" three, four").dropAfter(2),
        Script.status(500, ErrorBodies.openAiServerError()), Script.reply(" four, five."));
    List<TurnEvent> events = turn(ModelRequest.of("Count.", List.of(new Message(Role.USER, "count to five"))));
    TurnResult result = result(events);
    assertEquals(List.of("a", "a", "a", "b"), calledModels);
    assertEquals(streamedText(events), result.text(), "what a client concatenates is the answer");
    assertEquals("One, two, three, four, five.", result.text());
    assertTrue(switches(events).stream().noneMatch(TurnEvent.ModelSwitched::discardOutput), events::toString);
    assertEquals(List.of(new TurnResult.Part("local/a", 0, 9), new TurnResult.Part("local/a", 9, 16),
        new TurnResult.Part("backup/b", 16, 28)), result.parts(), "one part per call that wrote text");

    List<dev.talon.testing.Request> requests = fake.requests();
    var retry = requests.get(requests.size() - 3).body();
    assertEquals("assistant: One, two,", role(retry.path("input").path(1)) + ": " + retry.at("/input/1/content/0/text").asText());
    assertTrue(retry.path("instructions").asText().startsWith("Count.\n\nYour reply was cut off."), retry::toString);
    var fallback = requests.get(requests.size() - 1).body().path("messages");
    assertEquals("assistant: One, two, three,", role(fallback.path(2)) + ": " + fallback.path(2).path("content").asText());
  }

  static String role(com.fasterxml.jackson.databind.JsonNode item) {
    return item.path("role").asText();
  }

  @Test
  void aToolCallAlreadyStreamedCannotBeContinuedSoTheNextCallRestarts() throws Exception {
    fake.enqueue(Script.reply().toolCall("weather", "{}").toolCall("time", "{}").argumentDeltas(Script.ArgumentDeltas.ONE)
        .dropAfter(1), Script.reply("from scratch"));
    List<TurnEvent> events = turn(HELLO);
    assertEquals(List.of(true), switches(events).stream().map(TurnEvent.ModelSwitched::discardOutput).toList());
    assertEquals("from scratch", result(events).text());
    assertEquals(List.of(new TurnResult.Part("local/a", 0, 12)), result(events).parts());
    assertEquals(1, fake.requests().get(fake.requests().size() - 1).body().path("input").size(), "nothing to continue");
  }

  @Test
  void inRestartModeAModelThatFailsAfterStreamingIsRestartedFromScratchOnTheNext() throws Exception {
    fake.enqueue(Script.reply("partial words that will be lost").dropAfter(3), Script.reply("partial").dropAfter(1),
        Script.reply("again").dropAfter(1), Script.reply("the final answer"));
    List<TurnEvent> events = turn(HELLO, TalonSettings.MidStream.RESTART);
    List<TurnEvent.ModelSwitched> switched = switches(events);
    assertEquals(3, switched.size(), events::toString);
    assertTrue(switched.stream().allMatch(TurnEvent.ModelSwitched::discardOutput));
    assertEquals("backup/b", switched.get(2).toModel());
    assertEquals("the final answer", result(events).text(), "only the final answer is kept");
    assertEquals(List.of(new TurnResult.Part("backup/b", 0, 16)), result(events).parts());
    assertEquals(1, fake.requests().get(fake.requests().size() - 1).body().path("messages").size(),
        "the fallback starts from the original request");
    assertEquals(java.util.Arrays.asList("TRUNCATED", "TRUNCATED", "TRUNCATED", null),
        result(events).attempts().stream().map(Attempt::failureKind).toList());
  }

  @Test
  void whenEveryCandidateFailsTheTurnFailsWithEveryAttempt() throws Exception {
    fake.setDefault(Script.status(401, ErrorBodies.openAi("bad key", "invalid_request_error", null, "invalid_api_key")));
    List<TurnEvent> events = turn(HELLO);
    TurnEvent.Failed failed = assertInstanceOf(TurnEvent.Failed.class, events.get(events.size() - 1));
    assertEquals("AUTH", failed.kind());
    assertEquals(2, failed.attempts().size());
    assertTrue(failed.reason().startsWith("all 2 candidate model(s) failed: local/a: AUTH (HTTP 401) bad key; "
        + "backup/b: AUTH (HTTP 401) bad key"), failed.reason());
  }

  @Test
  void whenAllAreCoolingTheOneThatExpiresFirstIsProbed() {
    var a = catalog.resolve("local/a");
    var b = catalog.resolve("backup/b");
    cooldowns.failed(b);
    clock.advance(Duration.ofSeconds(5));
    cooldowns.failed(a);
    assertEquals(List.of(b, a), cooldowns.plan(List.of(a, b)));
  }

  @Test
  void cooldownsEscalateAndResetAfterSuccess() {
    var a = catalog.resolve("local/a");
    Instant now = clock.instant();
    cooldowns.failed(a);
    assertEquals(now.plusSeconds(30), cooldowns.coolingUntil(a));
    cooldowns.failed(a);
    assertEquals(now.plusSeconds(60), cooldowns.coolingUntil(a));
    cooldowns.failed(a);
    cooldowns.failed(a);
    assertEquals(now.plusSeconds(300), cooldowns.coolingUntil(a));
    cooldowns.succeeded(a);
    assertNull(cooldowns.coolingUntil(a));
  }

  @Test
  void cancellingTheTurnClosesTheUpstreamCall() throws Exception {
    fake.enqueue(Script.reply("one two three four five six seven").tokenDelay(Duration.ofMillis(200)));
    List<TurnEvent> firstTwo = runner.run("t1", catalog.defaultAgent().candidates(), ModelView.of(HELLO), null).take(2)
        .runWith(Sink.seq(), testKit.system()).toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertInstanceOf(TurnEvent.TextDelta.class, firstTwo.get(1));
    assertNotNull(fake.awaitConnectionClosed(Duration.ofSeconds(1)));
  }

  static final class MutableClock extends Clock {
    private Instant now = Instant.parse("2026-11-25T00:00:00Z");

    void advance(Duration d) {
      now = now.plus(d);
    }

    @Override
    public Instant instant() {
      return now;
    }

    @Override
    public ZoneOffset getZone() {
      return ZoneOffset.UTC;
    }

    @Override
    public Clock withZone(java.time.ZoneId zone) {
      return this;
    }
  }
}
