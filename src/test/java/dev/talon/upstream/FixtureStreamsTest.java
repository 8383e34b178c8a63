package dev.talon.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.config.Api;
import dev.talon.testing.TestResources;
import dev.talon.upstream.ModelEvent.FinishReason;
import dev.talon.upstream.ModelEvent.ToolCall;
import dev.talon.upstream.UpstreamFailure.Kind;
import java.nio.file.Files;
import java.util.List;
import java.util.stream.Stream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Every recorded upstream stream, parsed exactly. */
class FixtureStreamsTest {
  static final ActorTestKit testKit = ActorTestKit.create();

  @AfterAll
  static void shutdown() {
    testKit.shutdownTestKit();
  }

  static ParsedStream parse(String name, Api api) throws Exception {
    ParsedStream whole = ParsedStream.ofFixture(testKit.system(), name, api, 1 << 20);
    ParsedStream chopped = ParsedStream.ofFixture(testKit.system(), name, api, 7);
    assertEquals(whole.text(), chopped.text(), "network splits must not change the text");
    assertEquals(whole.reasoning(), chopped.reasoning());
    assertEquals(whole.toolCalls(), chopped.toolCalls());
    return chopped;
  }

  @Test
  void everyStreamFixtureHasATest() throws Exception {
    try (Stream<java.nio.file.Path> files = Files.list(TestResources.upstreamFixture(""))) {
      List<String> streams = files.map(p -> p.getFileName().toString())
          .filter(n -> n.endsWith(".sse") || n.endsWith(".chunks.jsonl")).sorted().toList();
      assertEquals(List.of("deepseek-chat-reasoning-content.sse", "groq-chat-reasoning-event-error.sse",
          "llamacpp-chat-reasoning-content.sse", "llamacpp-chat-toolcall.sse", "llamacpp-responses-reasoning.sse",
          "llamacpp-responses-toolcall.sse", "lmstudio-responses-reasoning-toolcall.chunks.jsonl",
          "lmstudio-responses-text.chunks.jsonl", "openai-chat-toolcall-usage.sse", "openai-responses-error.chunks.jsonl",
          "openai-responses-reasoning-summary-toolcall.chunks.jsonl", "openai-responses-text.sse",
          "openrouter-chat-midstream-error.sse", "openrouter-responses-gptoss-reasoning.sse"), streams,
          "a new fixture needs its own test below");
    }
  }

  // ---- Responses API ----

  @Test
  void openAiResponsesText() throws Exception {
    ParsedStream s = parse("openai-responses-text.sse", Api.OPENAI_RESPONSES);
    assertEquals("The capital of Minas Gerais is Belo Horizonte.", s.text());
    assertEquals("", s.reasoning());
    assertEquals(new ModelEvent.Usage(25, 10, 0, 0), s.usage());
    assertEquals(FinishReason.STOP, s.completed().reason());
  }

  @Test
  void openAiReasoningSummaryAndToolCall() throws Exception {
    ParsedStream s = parse("openai-responses-reasoning-summary-toolcall.chunks.jsonl", Api.OPENAI_RESPONSES);
    assertEquals("", s.text());
    assertTrue(s.reasoning().startsWith("**Calculating step-by-step using calculator**\n\nI'll compute 12 plus 7"),
        s.reasoning());
    assertTrue(s.reasoning().endsWith("that by 10, reporting the final product."), s.reasoning());
    assertEquals(163, s.reasoning().length());
    assertEquals(List.of(new ToolCall("call_AB6AaRZ1FYZB2RwS6A5vbdqn", "calculator", "{\"a\":12,\"b\":7,\"op\":\"add\"}")),
        s.toolCalls());
    assertEquals(new ModelEvent.Usage(134, 28, 0, 0), s.usage());
    assertEquals(FinishReason.TOOL_CALLS, s.completed().reason());
  }

  @Test
  void openAiErrorAfterHttp200() throws Exception {
    ParsedStream s = parse("openai-responses-error.chunks.jsonl", Api.OPENAI_RESPONSES);
    assertEquals(Kind.QUOTA, s.failureKind());
    assertEquals("insufficient_quota", s.failure().failure().errorCode());
    assertTrue(s.failure().failure().message().startsWith("You exceeded your current quota"));
  }

  @Test
  void lmStudioText() throws Exception {
    ParsedStream s = parse("lmstudio-responses-text.chunks.jsonl", Api.OPENAI_RESPONSES);
    assertEquals(1384, s.text().length());
    assertTrue(s.text().startsWith("## The Festival of Whispering Leaves (Feasts in the Forest)\n\n**Origin:**"));
    assertTrue(s.text().endsWith("r roots through storytelling around fire"));
    assertEquals(new ModelEvent.Usage(31, 282, 30, 0), s.usage());
    assertEquals(FinishReason.STOP, s.completed().reason());
  }

  @Test
  void lmStudioReasoningThenToolCallWithoutArgumentDeltas() throws Exception {
    ParsedStream s = parse("lmstudio-responses-reasoning-toolcall.chunks.jsonl", Api.OPENAI_RESPONSES);
    assertEquals("I'll get the current weather information for San Francisco for you.", s.text());
    assertEquals(242, s.reasoning().length());
    assertTrue(s.reasoning().startsWith("The user is asking for the weather in San Francisco."), s.reasoning());
    assertFalse(s.text().contains("The user is asking"), "reasoning must not leak into the text");
    assertEquals(List.of(new ToolCall("call_2025306790300011", "weather", "{\"location\":\"San Francisco\"}")),
        s.toolCalls());
    assertEquals(new ModelEvent.Usage(182, 61, 2, 48), s.usage());
    assertEquals(FinishReason.TOOL_CALLS, s.completed().reason());
  }

  @Test
  void openRouterDataOnlyOutOfOrderChangingIds() throws Exception {
    ParsedStream s = parse("openrouter-responses-gptoss-reasoning.sse", Api.OPENAI_RESPONSES);
    assertEquals("4", s.text());
    assertEquals("The user asks: \"What is 2+2?\" They expect a straightforward answer: 4. Just answer 4.",
        s.reasoning());
    assertEquals(new ModelEvent.Usage(78, 37, 0, 22), s.usage());
    assertEquals(FinishReason.STOP, s.completed().reason());
  }

  @Test
  void llamaCppResponsesReasoningWithoutIndexesOrSequenceNumbers() throws Exception {
    ParsedStream s = parse("llamacpp-responses-reasoning.sse", Api.OPENAI_RESPONSES);
    assertEquals("Hello from the tiny scripted model!", s.text());
    assertEquals("The user said hi. Reply briefly.", s.reasoning());
    assertEquals(new ModelEvent.Usage(12, 20, 0, 0), s.usage());
    assertEquals(FinishReason.STOP, s.completed().reason());
  }

  @Test
  void llamaCppResponsesToolCallWithoutDoneEvent() throws Exception {
    ParsedStream s = parse("llamacpp-responses-toolcall.sse", Api.OPENAI_RESPONSES);
    assertEquals(List.of(new ToolCall("call_rbD8fi63yDQvqBMldGtDLls4ltX0Bvfj", "get_weather", "{\"city\": \"Paris\"}")),
        s.toolCalls());
    assertEquals(new ModelEvent.Usage(110, 24, 2, 0), s.usage());
    assertEquals(FinishReason.TOOL_CALLS, s.completed().reason());
  }

  // ---- Chat Completions ----

  @Test
  void openAiChatToolCallWithUsageChunk() throws Exception {
    ParsedStream s = parse("openai-chat-toolcall-usage.sse", Api.OPENAI_COMPLETIONS);
    assertEquals("", s.text());
    assertEquals(List.of(new ToolCall("call_ZR5UUuTt3pf61kjwAJIYdVMj", "get_capital", "{\"country\":\"UK\"}")),
        s.toolCalls());
    assertEquals(new ModelEvent.Usage(53, 15, 0, 0), s.usage());
    assertEquals(FinishReason.TOOL_CALLS, s.completed().reason());
  }

  @Test
  void deepSeekReasoningContentThenAnswerUsageOnFinishChunk() throws Exception {
    ParsedStream s = parse("deepseek-chat-reasoning-content.sse", Api.OPENAI_COMPLETIONS);
    assertEquals("Hello there! 😊 How can I help you today?", s.text());
    assertEquals(882, s.reasoning().length());
    assertTrue(s.reasoning().startsWith("Hmm, the user just said \"Hello\"."), s.reasoning());
    assertTrue(s.reasoning().endsWith("not reply further - and that's okay too."), s.reasoning());
    assertEquals(new ModelEvent.Usage(6, 212, 0, 198), s.usage());
    assertEquals(FinishReason.STOP, s.completed().reason());
  }

  @Test
  void llamaCppChatReasoningContent() throws Exception {
    ParsedStream s = parse("llamacpp-chat-reasoning-content.sse", Api.OPENAI_COMPLETIONS);
    assertEquals("Hello from the tiny scripted model!", s.text());
    assertEquals("The user said hi. Reply briefly.", s.reasoning());
    assertEquals(new ModelEvent.Usage(12, 20, 11, 0), s.usage());
    assertEquals(FinishReason.STOP, s.completed().reason());
  }

  @Test
  void llamaCppChatToolCallWithoutUsage() throws Exception {
    ParsedStream s = parse("llamacpp-chat-toolcall.sse", Api.OPENAI_COMPLETIONS);
    assertEquals(List.of(new ToolCall("XQq7hz4sFbn1QoUM85bS5HuEvYTEdxzs", "get_weather", "{\"city\": \"Paris\"}")),
        s.toolCalls());
    assertEquals(null, s.usage());
    assertEquals(FinishReason.TOOL_CALLS, s.completed().reason());
  }

  @Test
  void openRouterErrorInsideANormalChunk() throws Exception {
    ParsedStream s = parse("openrouter-chat-midstream-error.sse", Api.OPENAI_COMPLETIONS);
    assertEquals("We need to respond to a greeting. The user", s.reasoning(),
        "reasoning and reasoning_details carry the same text: it must be read once");
    assertEquals(Kind.BAD_REQUEST, s.failureKind());
    assertEquals("Token limit reached", s.failure().failure().message());
    assertEquals(400, s.failure().failure().status());
  }

  @Test
  void groqEventErrorWithoutDone() throws Exception {
    ParsedStream s = parse("groq-chat-reasoning-event-error.sse", Api.OPENAI_COMPLETIONS);
    assertEquals(412, s.reasoning().length());
    assertEquals("", s.text());
    assertEquals(Kind.BAD_REQUEST, s.failureKind());
    assertEquals("tool_use_failed", s.failure().failure().errorCode());
    assertTrue(s.failure().failure().message().startsWith("Tool call validation failed"));
  }

  // ---- HTTP error bodies ----

  @ParameterizedTest
  @ValueSource(strings = {"llamacpp-context-overflow-400.json"})
  void llamaCppContextOverflowBody(String name) throws Exception {
    UpstreamFailure f = ErrorClassifier.fromHttp(400, Files.readString(TestResources.upstreamFixture(name)), null);
    assertEquals(Kind.CONTEXT_OVERFLOW, f.kind());
    assertEquals("exceed_context_size_error", f.errorType());
    assertTrue(f.message().contains("exceeds the available context size (4096 tokens)"), f.message());
  }

  @Test
  void openAiInsufficientQuotaBody() throws Exception {
    UpstreamFailure f = ErrorClassifier.fromHttp(429,
        Files.readString(TestResources.upstreamFixture("openai-error-insufficient-quota.json")), null);
    assertEquals(Kind.QUOTA, f.kind());
    assertEquals(UpstreamFailure.Action.FAIL_OVER, f.action());
  }
}
