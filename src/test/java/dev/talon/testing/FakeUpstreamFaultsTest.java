package dev.talon.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.UncheckedIOException;
import java.net.SocketTimeoutException;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Every fault knob does to the wire what a real failing server does, seen by plain clients. */
class FakeUpstreamFaultsTest {
  private static final Duration WAIT = Duration.ofSeconds(5);
  private static final String RESPONSES_STREAM =
      "{\"model\":\"m\",\"input\":\"Hi\",\"stream\":true}";
  private static final String CHAT_STREAM =
      "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"stream\":true}";
  private static final String MESSAGES_STREAM = "{\"model\":\"c\",\"messages\":[],\"stream\":true}";

  private static ActorSystem<Void> system;

  @BeforeAll
  static void startSystem() {
    system = ActorSystem.create(Behaviors.empty(), "FakeUpstreamFaultsTest");
  }

  @AfterAll
  static void stopSystem() {
    system.terminate();
  }

  // ---- HTTP status answers ----

  @Test
  void statusAnswersCarryTheBodyAndHeaders() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(
          Script.status(429, ErrorBodies.openAiRateLimit())
              .retryAfter(Duration.ofMillis(1500))
              .header("x-should-retry", "true"));
      HttpResponse<String> response = TestClient.post(fake, "/v1/responses", RESPONSES_STREAM);

      assertEquals(429, response.statusCode());
      assertEquals("2", response.headers().firstValue("retry-after").orElseThrow());
      assertEquals("true", response.headers().firstValue("x-should-retry").orElseThrow());
      assertEquals("application/json", response.headers().firstValue("content-type").orElseThrow());
      assertEquals(ErrorBodies.openAiRateLimit(), Json.parse(response.body()));
    }
  }

  @Test
  void unusualStatusesAndPlainTextBodies() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(
          Script.status(529, ErrorBodies.anthropicOverloaded()), Script.status(502, "Bad Gateway"));

      HttpResponse<String> overloaded = TestClient.post(fake, "/v1/messages", MESSAGES_STREAM);
      assertEquals(529, overloaded.statusCode());
      assertEquals("overloaded_error", Json.parse(overloaded.body()).at("/error/type").asText());
      HttpResponse<String> proxy = TestClient.post(fake, "/v1/chat/completions", CHAT_STREAM);
      assertEquals(502, proxy.statusCode());
      assertEquals("Bad Gateway", proxy.body());
      assertTrue(proxy.headers().firstValue("content-type").orElseThrow().startsWith("text/plain"));
    }
  }

  @Test
  void errorBodiesHaveEachServersShape() {
    assertEquals(404, ErrorBodies.vllmModelNotFound("x").at("/error/code").intValue());
    assertEquals("NotFoundError", ErrorBodies.vllmModelNotFound("x").at("/error/type").asText());
    assertEquals(
        "{\"error\":{\"code\":503,\"message\":\"Loading model\",\"type\":\"unavailable_error\"}}",
        Json.write(ErrorBodies.llamaCppLoading()));
    JsonNode liteLlm = ErrorBodies.liteLlmRateLimit().get("error");
    assertTrue(liteLlm.get("code").isTextual());
    assertEquals("429", liteLlm.get("code").asText());
    assertEquals("None", liteLlm.get("type").asText());
    assertEquals("None", liteLlm.get("param").asText());
    assertEquals(
        "model_not_found", ErrorBodies.lmStudioNoModelsLoaded().at("/error/code").asText());
    assertTrue(
        ErrorBodies.lmStudioModelNotFound("default", List.of("a", "b"))
            .at("/error/message")
            .asText()
            .endsWith("Your models:\n\na\nb"));
    assertTrue(ErrorBodies.lmStudioContextOverflow(5000, 4096).get("error").isTextual());
    JsonNode busy = ErrorBodies.ollamaServerBusy().get("error");
    assertTrue(busy.get("message").asText().startsWith("server busy"));
    assertTrue(busy.get("param").isNull() && busy.get("code").isNull());
    assertEquals(
        "model \"llama3\" not found, try pulling it first",
        ErrorBodies.ollamaModelNotFound("llama3").at("/error/message").asText());
    assertEquals("error", ErrorBodies.anthropicOverloaded().get("type").asText());
    assertEquals(
        ErrorBodies.fromFixture("llamacpp-context-overflow-400.json"),
        ErrorBodies.llamaCppContextOverflow(5012, 4096));
    assertEquals(
        ErrorBodies.fromFixture("openai-error-insufficient-quota.json"),
        ErrorBodies.openAiInsufficientQuota());
  }

  // ---- context overflow ----

  @Test
  void contextWindowRejectsOnlyLongPromptsInTheChosenShape() {
    String small = "{\"model\":\"m\",\"input\":\"Hi\",\"stream\":true}";
    String large = "{\"model\":\"m\",\"input\":\"" + "x".repeat(100) + "\",\"stream\":true}";
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.setDefault(Script.reply("ok").contextWindow(10));
      assertEquals(200, TestClient.post(fake, "/v1/responses", small).statusCode());

      HttpResponse<String> openAi = TestClient.post(fake, "/v1/responses", large);
      assertEquals(400, openAi.statusCode());
      assertEquals("context_length_exceeded", Json.parse(openAi.body()).at("/error/code").asText());

      HttpResponse<String> anthropic = TestClient.post(fake, "/v1/messages", large);
      assertEquals(400, anthropic.statusCode());
      assertEquals(
          "prompt is too long: 25 tokens > 10 maximum",
          Json.parse(anthropic.body()).at("/error/message").asText());

      fake.enqueue(Script.reply("ok").contextWindow(10, ServerKind.LLAMA_CPP));
      JsonNode llamaCpp =
          Json.parse(TestClient.post(fake, "/v1/chat/completions", large).body()).get("error");
      assertEquals("exceed_context_size_error", llamaCpp.get("type").asText());
      assertEquals(25, llamaCpp.get("n_prompt_tokens").asInt());
      assertEquals(10, llamaCpp.get("n_ctx").asInt());
      assertEquals(4, fake.awaitRequests(4, WAIT).size());
    }
  }

  // ---- timing ----

  @Test
  void headerDelayHoldsBackTheWholeResponse() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(
          Script.status(503, ErrorBodies.ollamaServerBusy()).headerDelay(Duration.ofMillis(300)));
      long start = System.nanoTime();
      HttpResponse<String> response = TestClient.post(fake, "/v1/chat/completions", CHAT_STREAM);

      assertEquals(503, response.statusCode());
      assertTrue(elapsedMillis(start) >= 300);
      assertEquals(1, fake.requests().size(), "recorded when it arrived, not when answered");
    }
  }

  @Test
  void firstTokenDelayComesAfterTheHeaders() throws Exception {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("Hello there").firstTokenDelay(Duration.ofMillis(700)));
      long start = System.nanoTime();
      try (RawHttp raw = RawHttp.post(fake.address(), "/v1/responses", RESPONSES_STREAM)) {
        long headers = elapsedMillis(start);
        String beforeToken = raw.readUntil("response.in_progress");
        assertFalse(beforeToken.contains("output_text.delta"));
        raw.readUntil("response.output_text.delta");
        long firstToken = elapsedMillis(start);

        assertEquals(200, raw.status);
        assertTrue(headers < 700, "headers after " + headers + " ms");
        assertTrue(firstToken >= 700, "first token after " + firstToken + " ms");
        assertTrue(raw.readToEnd().complete());
      }
    }
  }

  @Test
  void tokenDelayPacesEveryTokenAfterTheFirst() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("a b c d e").tokenDelay(Duration.ofMillis(80)));
      long start = System.nanoTime();
      String body = TestClient.post(fake, "/v1/chat/completions", CHAT_STREAM).body();

      assertTrue(elapsedMillis(start) >= 4 * 80);
      assertTrue(body.endsWith("data: [DONE]\n\n"));
    }
  }

  @Test
  void nonStreamingRepliesWaitForTheWholeGeneration() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(
          Script.reply("a b c")
              .firstTokenDelay(Duration.ofMillis(200))
              .tokenDelay(Duration.ofMillis(100)));
      long start = System.nanoTime();
      HttpResponse<String> response =
          TestClient.post(fake, "/v1/chat/completions", "{\"messages\":[]}");

      assertEquals(200, response.statusCode());
      assertTrue(elapsedMillis(start) >= 400);
    }
  }

  // ---- stall ----

  @Test
  void stallKeepsTheConnectionOpenWithoutData() throws Exception {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("one two three").stallAfter(2));
      RawHttp raw = RawHttp.post(fake.address(), "/v1/chat/completions", CHAT_STREAM);
      String sofar = raw.readUntil("\" two\"");

      raw.readTimeout(Duration.ofMillis(300));
      assertThrows(
          SocketTimeoutException.class,
          raw::nextChunk,
          "nothing after the stall, but no end either");
      assertFalse(
          sofar.contains("three")
              || sofar.contains("finish_reason\":\"stop")
              || sofar.contains("[DONE]"));
      assertTrue(fake.closedConnections().isEmpty());

      raw.close();
      assertEquals(
          "/v1/chat/completions", fake.awaitConnectionClosed(Duration.ofSeconds(1)).path());
    }
  }

  @Test
  void keepAliveCommentsContinueThroughAStall() throws Exception {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("one two").stallAfter(0).keepAlive(Duration.ofMillis(50)));
      try (RawHttp raw = RawHttp.post(fake.address(), "/v1/responses", RESPONSES_STREAM)) {
        String sofar = raw.readUntil(": keep-alive\n\n: keep-alive\n\n");

        assertTrue(
            sofar.contains("response.in_progress"), "the preamble goes out before the stall");
        assertFalse(sofar.contains("output_text.delta"));
      }
    }
  }

  @Test
  void stalledNonStreamingRequestNeverGetsHeaders() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("x").stallAfter(0));
      assertThrows(
          SocketTimeoutException.class,
          () ->
              RawHttp.post(
                  fake.address(), "/v1/responses", "{\"input\":\"Hi\"}", Duration.ofMillis(300)));
      assertEquals(1, fake.requests().size());
    }
  }

  // ---- drop ----

  @Test
  void dropAbortsTheConnectionWithoutTheLastChunk() throws Exception {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("one two three four").dropAfter(2));
      try (RawHttp raw = RawHttp.post(fake.address(), "/v1/responses", RESPONSES_STREAM)) {
        RawHttp.Body body = raw.readToEnd();

        assertEquals(200, raw.status);
        assertFalse(body.complete(), "the chunked body must not end cleanly");
        List<String> types = Sse.types(body.text());
        assertEquals(2, types.stream().filter("response.output_text.delta"::equals).count());
        assertEquals(
            "response.output_text.delta", types.get(types.size() - 1), "no terminal event");
      }
      assertTrue(fake.closedConnections().isEmpty(), "a scripted drop is not the client closing");
    }
  }

  @Test
  void dropFailsAPlainHttpClient() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("one two three").dropAfter(1));
      assertThrows(
          UncheckedIOException.class, () -> TestClient.post(fake, "/v1/messages", MESSAGES_STREAM));
      assertEquals(1, fake.requests().size());
    }
  }

  @Test
  void dropCutsANonStreamingBodyInTheMiddle() throws Exception {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("one two three").dropAfter(1));
      try (RawHttp raw =
          RawHttp.post(fake.address(), "/v1/chat/completions", "{\"messages\":[]}")) {
        RawHttp.Body body = raw.readToEnd();

        assertEquals(200, raw.status);
        assertFalse(body.complete());
        assertTrue(body.text().startsWith("{\"id\":\"chatcmpl-"));
        assertThrows(UncheckedIOException.class, () -> Json.parse(body.text()));
      }
    }
  }

  // ---- malformed frame ----

  @Test
  void malformedFrameIsCutMidJsonThenTheStreamEnds() throws Exception {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("Hello, world").malformedFrameAfter(1));
      try (RawHttp raw = RawHttp.post(fake.address(), "/v1/responses", RESPONSES_STREAM)) {
        RawHttp.Body body = raw.readToEnd();

        assertTrue(body.complete(), "the body ends cleanly after the bad frame");
        List<Sse> frames = Sse.parse(body.text());
        Sse bad = frames.get(frames.size() - 1);
        assertEquals("response.output_text.delta", bad.event());
        assertTrue(bad.data().startsWith("{\"type\":\"response.output_text.delta\""));
        assertThrows(UncheckedIOException.class, () -> Json.parse(bad.data()));
        assertTrue(body.text().endsWith("\n\n"));
        frames.subList(0, frames.size() - 1).forEach(f -> Json.parse(f.data()));
        assertEquals(5, frames.size() - 1, "created, in_progress, item, part, one delta");
      }
    }
  }

  @Test
  void malformedNonStreamingBodyIsHalfAJsonDocument() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("one two").malformedFrameAfter(0));
      HttpResponse<String> response = TestClient.post(fake, "/v1/messages", "{\"messages\":[]}");

      assertEquals(200, response.statusCode());
      assertTrue(response.body().startsWith("{\"id\":\"msg_"));
      assertThrows(UncheckedIOException.class, () -> Json.parse(response.body()));
    }
  }

  // ---- in-stream errors ----

  @Test
  void responsesStreamErrorIsErrorThenResponseFailed() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(
          Script.reply("a b c").streamErrorAfter(1),
          Script.reply("a").streamErrorAfter(0, ErrorBodies.openAiContextOverflow()));
      HttpResponse<String> response = TestClient.post(fake, "/v1/responses", RESPONSES_STREAM);

      assertEquals(200, response.statusCode());
      List<JsonNode> events = Sse.json(response.body());
      List<String> types = events.stream().map(e -> e.get("type").asText()).toList();
      assertEquals(
          List.of("response.output_text.delta", "error", "response.failed"), types.subList(4, 7));
      assertEquals(7, events.size());
      for (int i = 0; i < events.size(); i++) {
        assertEquals(i, events.get(i).get("sequence_number").asInt());
      }
      assertEquals("server_error", events.get(5).at("/error/type").asText());
      assertEquals("failed", events.get(6).at("/response/status").asText());
      assertEquals("server_error", events.get(6).at("/response/error/code").asText());
      assertEquals(events.get(0).at("/response/id"), events.get(6).at("/response/id"));

      List<JsonNode> overflow =
          Sse.json(TestClient.post(fake, "/v1/responses", RESPONSES_STREAM).body());
      assertEquals(
          List.of(
              "response.created",
              "response.in_progress",
              "response.output_item.added",
              "response.content_part.added",
              "error",
              "response.failed"),
          overflow.stream().map(e -> e.get("type").asText()).toList());
      assertEquals("context_length_exceeded", overflow.get(5).at("/response/error/code").asText());
    }
  }

  @Test
  void chatStreamErrorIsADataFrameWithError() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("a b").streamErrorAfter(1, ErrorBodies.liteLlmRateLimit()));
      String body = TestClient.post(fake, "/v1/chat/completions", CHAT_STREAM).body();

      List<JsonNode> chunks = Sse.json(body);
      assertEquals(
          ErrorBodies.liteLlmRateLimit().get("error"), chunks.get(chunks.size() - 1).get("error"));
      assertEquals(3, chunks.size(), "role chunk, one token, error");
      assertTrue(body.endsWith("data: [DONE]\n\n"), "then [DONE], as vLLM does");
    }
  }

  @Test
  void messagesStreamErrorIsAnErrorEvent() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("a b").streamErrorAfter(1));
      String body = TestClient.post(fake, "/v1/messages", MESSAGES_STREAM).body();

      List<Sse> frames = Sse.parse(body);
      Sse last = frames.get(frames.size() - 1);
      assertEquals("error", last.event());
      assertEquals("overloaded_error", Json.parse(last.data()).at("/error/type").asText());
      assertFalse(body.contains("message_stop"));
    }
  }

  @Test
  void streamErrorOnANonStreamingRequestIsA500() {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("x").streamErrorAfter(0, ErrorBodies.vllmEngineError()));
      HttpResponse<String> response =
          TestClient.post(fake, "/v1/chat/completions", "{\"messages\":[]}");

      assertEquals(500, response.statusCode());
      assertEquals(ErrorBodies.vllmEngineError(), Json.parse(response.body()));
    }
  }

  // ---- client going away ----

  @Test
  void aClientClosingMidStreamIsObservedWithinASecond() throws Exception {
    try (FakeUpstream fake = FakeUpstream.start(system)) {
      fake.enqueue(Script.reply("word ".repeat(200)).tokenDelay(Duration.ofMillis(20)));
      RawHttp raw = RawHttp.post(fake.address(), "/v1/responses", RESPONSES_STREAM);
      raw.readUntil("response.output_text.delta");
      raw.close();

      Request closed = fake.awaitConnectionClosed(Duration.ofSeconds(1));
      assertEquals("/v1/responses", closed.path());
      assertEquals(List.of(closed), fake.closedConnections());
    }
  }

  private static long elapsedMillis(long startNanos) {
    return (System.nanoTime() - startNanos) / 1_000_000;
  }
}
