package dev.talon.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.config.ConfigLoader;
import dev.talon.config.Model;
import dev.talon.config.TalonSettings;
import dev.talon.testing.ErrorBodies;
import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Request;
import dev.talon.testing.Script;
import dev.talon.testing.ServerKind;
import dev.talon.upstream.ModelEvent.FinishReason;
import dev.talon.upstream.ModelEvent.ToolCall;
import dev.talon.upstream.ModelRequest.Message;
import dev.talon.upstream.ModelRequest.Role;
import dev.talon.upstream.UpstreamFailure.Kind;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.slf4j.LoggerFactory;

/** The HTTP model client against a real server on loopback: the fake upstream. */
class HttpModelClientTest {
  static final ActorTestKit testKit = ActorTestKit.create();
  static final FakeUpstream fake = FakeUpstream.start(testKit.system());
  static final TalonSettings.Upstream FAST = new TalonSettings.Upstream(
      Duration.ofMillis(1500), Duration.ofMillis(1500), Duration.ofMillis(600));
  static final HttpModelClient client = new HttpModelClient(testKit.system(), FAST);
  static final ModelRequest HELLO = ModelRequest.of("Be brief.", List.of(new Message(Role.USER, "Say hello")));

  @AfterAll
  static void shutdown() {
    fake.close();
    testKit.shutdownTestKit();
  }

  @BeforeEach
  void reset() {
    fake.setDefault(Script.reply("Hello, world!"));
  }

  static Model model(String api) {
    return model(api, fake.baseUrl(), "sk-test");
  }

  static Model model(String api, String baseUrl, String key) {
    return model(api, baseUrl, key, "");
  }

  /** @param fields more fields of the model entry, each followed by a comma */
  static Model model(String api, String baseUrl, String key, String fields) {
    String keyField = key == null ? "" : "apiKey: '" + key + "',";
    return ConfigLoader.parse("{ models: { mode: 'replace', providers: { fake: { baseUrl: '" + baseUrl + "', "
        + keyField + " api: '" + api + "', models: [{ " + fields + " id: 'fake-model', maxTokens: 256 }] } } } }",
        "test", Map.<String, String>of()::get).catalog().resolve("fake/fake-model");
  }

  record Outcome(List<ModelEvent> events, UpstreamException failure) {
    String text() {
      StringBuilder out = new StringBuilder();
      events.forEach(e -> out.append(e instanceof ModelEvent.TextDelta t ? t.text() : ""));
      return out.toString();
    }

    String reasoning() {
      StringBuilder out = new StringBuilder();
      events.forEach(e -> out.append(e instanceof ModelEvent.ReasoningDelta r ? r.text() : ""));
      return out.toString();
    }

    UpstreamFailure failed() {
      assertNotNull(failure, () -> "expected a failure, got " + events);
      return failure.failure();
    }

    ModelEvent last() {
      assertEquals(null, failure, () -> "unexpected failure " + failure);
      return events.get(events.size() - 1);
    }
  }

  static Outcome call(Model model, ModelRequest request) throws Exception {
    List<ModelEvent> events = new ArrayList<>();
    try {
      client.stream(model, request).runWith(Sink.foreach(events::add), testKit.system())
          .toCompletableFuture().get(20, TimeUnit.SECONDS);
      return new Outcome(events, null);
    } catch (ExecutionException e) {
      return new Outcome(events, (UpstreamException) e.getCause());
    }
  }

  /**
   * {@code script} answers every request until the next test or call sets another, not just the
   * next one: Pekko's pool may hand a call's request to the connection that the previous call's
   * cancelled stream is still closing, and the client then sends it again.
   */
  static Outcome call(String api, Script script) throws Exception {
    fake.setDefault(script);
    return call(model(api), HELLO);
  }

  // ---- success on every api ----

  @ParameterizedTest
  @EnumSource(names = {"OPENAI_RESPONSES", "OPENAI_COMPLETIONS", "ANTHROPIC_MESSAGES"}, value = dev.talon.config.Api.class)
  void streamsTextReasoningToolCallsAndUsage(dev.talon.config.Api api) throws Exception {
    Outcome o = call(api.configName(), Script.reply("The answer is 42.").reasoning("Let me think.")
        .toolCall("get_weather", "{\"city\":\"Paris\"}").usage(12, 7));
    assertEquals("The answer is 42.", o.text());
    assertEquals("Let me think.", o.reasoning());
    List<ToolCall> calls = o.events().stream().filter(e -> e instanceof ToolCall).map(e -> (ToolCall) e).toList();
    assertEquals(1, calls.size());
    assertEquals("get_weather", calls.get(0).name());
    assertEquals("{\"city\":\"Paris\"}", calls.get(0).arguments());
    assertTrue(o.events().contains(new ModelEvent.Usage(12, 7, 0, 0)) || o.events().stream()
        .anyMatch(e -> e instanceof ModelEvent.Usage u && u.inputTokens() == 12 && u.outputTokens() == 7), o.events()::toString);
    assertEquals(new ModelEvent.Completed(FinishReason.TOOL_CALLS), o.last());
  }

  /**
   * A stream read to its last event leaves its connection to the next call, instead of closing it
   * (for a hosted model, each call would pay a new TLS handshake).
   */
  @ParameterizedTest
  @EnumSource(names = {"OPENAI_RESPONSES", "OPENAI_COMPLETIONS", "ANTHROPIC_MESSAGES"}, value = dev.talon.config.Api.class)
  void callsOneAfterAnotherShareAConnection(dev.talon.config.Api api) throws Exception {
    int before = fake.connectionsAccepted();
    for (int i = 0; i < 5; i++) {
      assertEquals("hi", call(api.configName(), Script.reply("hi").usage(3, 1)).text());
    }
    int opened = fake.connectionsAccepted() - before;
    assertTrue(opened <= 1, opened + " connections for 5 calls one after another");
  }

  @Test
  void sendsTheRequestEachServerExpects() throws Exception {
    call("openai-responses", Script.reply("hi"));
    Request responses = last();
    assertEquals("/v1/responses", responses.path());
    assertEquals("Bearer sk-test", responses.header("Authorization"));
    assertEquals("fake-model", responses.body().path("model").asText());
    assertTrue(responses.body().path("stream").asBoolean());
    assertEquals("Be brief.", responses.body().path("instructions").asText());

    call("openai-completions", Script.reply("hi"));
    Request chat = last();
    assertEquals("/v1/chat/completions", chat.path());
    assertTrue(chat.body().path("stream_options").path("include_usage").asBoolean());
    assertEquals(256, chat.body().path("max_tokens").asInt());

    call("anthropic-messages", Script.reply("hi"));
    Request messages = last();
    assertEquals("/v1/messages", messages.path());
    assertEquals("sk-test", messages.header("x-api-key"));
    assertEquals("2023-06-01", messages.header("anthropic-version"));
    assertEquals("Be brief.", messages.body().path("system").asText());
  }

  @Test
  void aProviderWithoutKeySendsNoAuthorization() throws Exception {
    fake.setDefault(Script.reply("hi"));
    call(model("openai-completions", fake.baseUrl(), null), HELLO);
    assertEquals(null, last().header("Authorization"));
  }

  static Request last() {
    List<Request> all = fake.requests();
    return all.get(all.size() - 1);
  }

  @Test
  void completesOnAnIncompleteResponseWithTheLengthReason() throws Exception {
    Outcome o = call("openai-responses", Script.reply("cut short").finish(dev.talon.testing.Script.Finish.LENGTH));
    assertEquals("cut short", o.text());
    assertEquals(new ModelEvent.Completed(FinishReason.LENGTH), o.last());
  }

  @Test
  void aHugeSingleLineEventIsParsed() throws Exception {
    String arguments = "{\"blob\":\"" + "x".repeat(200_000) + "\"}";
    Outcome o = call("openai-completions", Script.reply("").toolCall("store", arguments).argumentDeltas(
        dev.talon.testing.Script.ArgumentDeltas.ONE));
    assertEquals(arguments, ((ToolCall) o.events().stream().filter(e -> e instanceof ToolCall).findFirst().orElseThrow())
        .arguments());
  }

  // ---- inline think tags ----

  @Test
  void aReasoningModelThatOpensNoThinkTagStreamsItsTextAtOnce() throws Exception {
    // The connection breaks after three tokens: whatever Talon held back by then never arrives.
    fake.setDefault(Script.reply("Paris is the capital of France.").dropAfter(3));
    Outcome o = call(model("openai-completions", fake.baseUrl(), null, "reasoning: true,"), HELLO);
    assertEquals("Paris is the", o.text());
    assertEquals(Kind.TRUNCATED, o.failed().kind());
  }

  @Test
  void thinkTagsOffLeavesTagsInTheText() throws Exception {
    fake.setDefault(Script.reply("Hi.").reasoning("hmm").reasoningChannel(Script.ReasoningChannel.THINK_TAGS));
    Outcome o = call(model("openai-completions", fake.baseUrl(), null, "compat: { thinkTags: false },"), HELLO);
    assertEquals("", o.reasoning());
    assertTrue(o.text().startsWith("<think>hmm</think>"), o.text());
  }

  // ---- log noise ----

  @Test
  void llamaServersEmptyCorsHeaderLogsNoWarningWhileOtherIllegalHeadersStillDo() throws Exception {
    ListAppender<ILoggingEvent> logs = new ListAppender<>();
    Logger root = (Logger) LoggerFactory.getLogger(Logger.ROOT_LOGGER_NAME);
    logs.start();
    root.addAppender(logs);
    try {
      assertEquals("hi", call("openai-completions", Script.reply("hi").header("Access-Control-Allow-Origin", "")).text());
      assertEquals("hi", call("openai-completions", Script.reply("hi").header("Age", "soon")).text());
      // Pekko logs through one actor, in order: once the second response's warning is out, the first's would be too.
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      while (warnings(logs, "age").isEmpty() && System.nanoTime() < deadline) {
        java.util.concurrent.locks.LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(10));
      }
      assertFalse(warnings(logs, "age").isEmpty(), "other illegal headers are still reported");
      assertEquals(List.of(), warnings(logs, "access-control-allow-origin"));
    } finally {
      root.detachAppender(logs);
    }
  }

  private static List<String> warnings(ListAppender<ILoggingEvent> logs, String header) {
    synchronized (logs.list) {
      return logs.list.stream().filter(e -> e.getLevel() == Level.WARN)
          .map(ILoggingEvent::getFormattedMessage)
          .filter(m -> m.toLowerCase(java.util.Locale.ROOT).contains("'" + header + "'")).toList();
    }
  }

  // ---- HTTP errors, classified ----

  @Test
  void rateLimitKeepsRetryAfter() throws Exception {
    UpstreamFailure f = call("openai-completions",
        Script.status(429, ErrorBodies.liteLlmRateLimit()).retryAfter(Duration.ofSeconds(2))).failed();
    assertEquals(Kind.RATE_LIMIT, f.kind());
    assertEquals(429, f.status());
    assertEquals(Duration.ofSeconds(2), f.retryAfter());
    assertEquals(UpstreamFailure.Action.RETRY, f.action());
  }

  @Test
  void classifiesEachServersErrorBodies() throws Exception {
    record Case(int status, JsonNode body, Kind kind) {}
    List<Case> cases = List.of(
        new Case(429, ErrorBodies.openAiInsufficientQuota(), Kind.QUOTA),
        new Case(429, ErrorBodies.openAiRateLimit(), Kind.RATE_LIMIT),
        new Case(529, ErrorBodies.anthropicOverloaded(), Kind.OVERLOADED),
        new Case(503, ErrorBodies.ollamaServerBusy(), Kind.OVERLOADED),
        new Case(503, ErrorBodies.llamaCppLoading(), Kind.MODEL_LOADING),
        new Case(404, ErrorBodies.lmStudioNoModelsLoaded(), Kind.MODEL_NOT_FOUND),
        new Case(404, ErrorBodies.ollamaModelNotFound("qwen3"), Kind.MODEL_NOT_FOUND),
        new Case(404, ErrorBodies.vllmModelNotFound("x"), Kind.MODEL_NOT_FOUND),
        new Case(401, ErrorBodies.openAi("Incorrect API key provided", "invalid_request_error", null, "invalid_api_key"),
            Kind.AUTH),
        new Case(400, ErrorBodies.openAi("Unsupported parameter: 'temperature'", "invalid_request_error", "temperature",
            null), Kind.BAD_REQUEST),
        new Case(500, ErrorBodies.vllmEngineError(), Kind.SERVER_ERROR),
        new Case(500, ErrorBodies.openAiServerError(), Kind.SERVER_ERROR),
        new Case(408, ErrorBodies.liteLlm("408", "litellm.Timeout: Request timed out"), Kind.SERVER_ERROR));
    for (Case c : cases) {
      UpstreamFailure f = call("openai-completions", Script.status(c.status(), c.body())).failed();
      assertEquals(c.kind(), f.kind(), () -> c.status() + " " + c.body());
      assertEquals(c.status(), f.status());
    }
  }

  @ParameterizedTest
  @EnumSource(value = ServerKind.class, names = {"OPENAI", "LM_STUDIO", "VLLM", "LLAMA_CPP", "OLLAMA", "LITELLM", "ANTHROPIC"})
  void contextOverflowFromEveryServer(ServerKind server) throws Exception {
    String api = server == ServerKind.ANTHROPIC ? "anthropic-messages" : "openai-completions";
    fake.setDefault(Script.reply("never").contextWindow(4, server));
    UpstreamFailure f = call(model(api), ModelRequest.of(null,
        List.of(new Message(Role.USER, "a prompt that is far longer than four tokens of context")))).failed();
    assertEquals(Kind.CONTEXT_OVERFLOW, f.kind(), f::toString);
    assertEquals(UpstreamFailure.Action.COMPACT_AND_RETRY, f.action());
  }

  // ---- transport faults ----

  @Test
  void aRefusedConnectionIsExplainedInOneLine() throws Exception {
    int port;
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort();
    }
    UpstreamFailure f = call(model("openai-responses", "http://127.0.0.1:" + port + "/v1", null), HELLO).failed();
    assertEquals(Kind.CONNECTION_REFUSED, f.kind());
    assertEquals(UpstreamFailure.Action.RETRY, f.action());
    assertEquals("the server of provider fake at 127.0.0.1:" + port + " refused the connection — is its server started?",
        f.message());
  }

  @Test
  void repeatedRefusalsAreNotHeldBackByThePool() throws Exception {
    int port;
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort();
    }
    Model down = model("openai-responses", "http://127.0.0.1:" + port + "/v1", null);
    for (int i = 0; i < 12; i++) {
      long start = System.nanoTime();
      assertEquals(Kind.CONNECTION_REFUSED, call(down, HELLO).failed().kind());
      assertTrue(System.nanoTime() - start < 2_000_000_000L, "refusal " + i + " took too long: pool backoff?");
    }
  }

  @Test
  void aDroppedConnectionIsATruncatedStream() throws Exception {
    Outcome o = call("openai-responses", Script.reply("one two three four").dropAfter(2));
    assertFalse(o.text().isEmpty(), "the tokens before the drop arrive");
    assertEquals(Kind.TRUNCATED, o.failed().kind());
  }

  @Test
  void aSuccessThatIsNotAnEventStreamFailsTheCallSayingWhatCame() throws Exception {
    UpstreamFailure failure = call("openai-completions", Script.status(200, "<html>a proxy's page</html>")).failed();
    assertEquals(Kind.TRUNCATED, failure.kind());
    assertTrue(failure.message().contains("instead of an event stream: <html>a proxy's page</html>"), failure.message());
  }

  @Test
  void aMalformedFrameFailsTheCall() throws Exception {
    assertEquals(Kind.TRUNCATED, call("openai-completions", Script.reply("a b c").malformedFrameAfter(1)).failed().kind());
  }

  @Test
  void inStreamErrorsAreClassified() throws Exception {
    assertEquals(Kind.CONTEXT_OVERFLOW, call("openai-responses",
        Script.reply("a b c").streamErrorAfter(1, ErrorBodies.openAiContextOverflow())).failed().kind());
    assertEquals(Kind.SERVER_ERROR, call("openai-completions",
        Script.reply("a b c").streamErrorAfter(1, ErrorBodies.openAiServerError())).failed().kind());
    assertEquals(Kind.OVERLOADED, call("anthropic-messages",
        Script.reply("a b c").streamErrorAfter(1, ErrorBodies.anthropicOverloaded())).failed().kind());
  }

  @Test
  void anUnavailableProviderFailsWithoutCallingIt() throws Exception {
    Model opus = ConfigLoader.parse("{ agents: { defaults: { model: 'anthropic/claude-opus-4-5' } } }", "t",
        Map.<String, String>of()::get).catalog().resolve("anthropic/claude-opus-4-5");
    UpstreamFailure f = call(opus, HELLO).failed();
    assertEquals(Kind.UNAVAILABLE, f.kind());
    assertTrue(f.message().contains("ANTHROPIC_API_KEY is not set"), f.message());
  }

  // ---- the two timeouts ----

  @Test
  void noFirstTokenInTimeIsAFirstTokenTimeout() throws Exception {
    UpstreamFailure f = call("openai-responses", Script.reply("late").firstTokenDelay(Duration.ofSeconds(5))).failed();
    assertEquals(Kind.FIRST_TOKEN_TIMEOUT, f.kind());
    assertEquals(Kind.FIRST_TOKEN_TIMEOUT, call("openai-completions",
        Script.reply("late").headerDelay(Duration.ofSeconds(5))).failed().kind());
  }

  @Test
  void aSlowColdStartWithinTheFirstTokenTimeoutSucceeds() throws Exception {
    // The first token takes longer than the idle timeout, but idleness only counts once tokens flow.
    Outcome o = call("openai-responses", Script.reply("warm now").firstTokenDelay(Duration.ofMillis(1000)));
    assertEquals("warm now", o.text());
  }

  @Test
  void aStallAfterTheFirstTokenIsAnIdleTimeout() throws Exception {
    Outcome o = call("openai-completions", Script.reply("one two three").stallAfter(1));
    assertEquals(Kind.IDLE_TIMEOUT, o.failed().kind());
    assertFalse(o.text().isEmpty());
  }

  @Test
  void keepAliveCommentsKeepASlowStreamAlive() throws Exception {
    Outcome o = call("openai-responses", Script.reply("slow but alive").tokenDelay(Duration.ofMillis(900))
        .keepAlive(Duration.ofMillis(200)));
    assertEquals("slow but alive", o.text());
  }

  // ---- cancellation ----

  @Test
  void cancellingTheStreamClosesTheUpstreamConnection() throws Exception {
    fake.setDefault(Script.reply("one two three four five six").tokenDelay(Duration.ofMillis(300)));
    List<ModelEvent> first = client.stream(model("openai-responses"), HELLO).take(1)
        .runWith(Sink.seq(), testKit.system()).toCompletableFuture().get(10, TimeUnit.SECONDS);
    assertEquals(1, first.size());
    Request closed = fake.awaitConnectionClosed(Duration.ofSeconds(1));
    assertEquals("/v1/responses", closed.path());
  }
}
