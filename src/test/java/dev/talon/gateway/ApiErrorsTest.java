package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertAll;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.conversation.ConversationEntity.Status;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.testing.ErrorBodies;
import dev.talon.testing.Script;
import java.io.ByteArrayInputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every bad input to the OpenAI-compatible API gets the right status and an OpenAI-style error
 * body {@code {"error":{"message","type","param","code"}}} (protocols.md §2.7, §2.8), and a
 * rejected request leaves nothing in the conversation's journal and never reaches a model.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ApiErrorsTest extends OnANode {
  private static final String SESSION = TurnRequest.SESSION_HEADER;
  private static final List<String> SECRETS = List.of("sk-local-secret", "sk-backup-secret");

  // ---- helpers ------------------------------------------------------------------------------

  /** A request to the API without any Authorization header. */
  HttpRequest.Builder anonymous(String path) {
    return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + api.server.localAddress().getPort() + path))
        .timeout(Duration.ofSeconds(30));
  }

  HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
    return api.http.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  HttpResponse<String> postJson(HttpRequest.Builder request, String json) throws Exception {
    return send(request.header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(json)));
  }

  /** POST /v1/responses on the session {@code key}. */
  HttpResponse<String> responses(String key, String json) throws Exception {
    return api.post("/v1/responses", json, SESSION, key);
  }

  /** POST /v1/chat/completions on the session {@code key}. */
  HttpResponse<String> chat(String key, String json) throws Exception {
    return api.post("/v1/chat/completions", json, SESSION, key);
  }

  @FunctionalInterface
  interface Call {
    HttpResponse<String> send() throws Exception;
  }

  /**
   * Sends a request that must be refused before it reaches a model: the fake upstream gets no
   * request, and the session {@code key} has no turn afterwards.
   */
  HttpResponse<String> refused(String key, Call call) throws Exception {
    int upstreamBefore = api.fake.requests().size();
    HttpResponse<String> response = call.send();
    assertEquals(upstreamBefore, api.fake.requests().size(),
        "a refused request must not reach the upstream; response: " + response.body());
    assertNoTurns(api, key);
    return response;
  }

  static void assertNoTurns(TalonApi node, String key) throws Exception {
    assertEquals(List.of(), node.transcript(key).turns(), "the journal of '" + key + "' must stay empty");
  }

  /**
   * Asserts the status and the OpenAI error shape: all four fields present, the message a
   * non-blank string, type/code/param as given ({@code param} null means JSON null). Returns the
   * {@code error} object.
   */
  static JsonNode assertError(HttpResponse<String> response, int status, String type, String code, String param)
      throws Exception {
    assertEquals(status, response.statusCode(), () -> "status; body: " + response.body());
    assertTrue(response.headers().firstValue("Content-Type").orElse("").startsWith("application/json"),
        () -> "an error is JSON; headers: " + response.headers().map());
    JsonNode body = TalonApi.json(response);
    JsonNode error = body.get("error");
    assertNotNull(error, () -> "no 'error' object in " + response.body());
    assertTrue(error.isObject(), () -> "'error' must be an object: " + response.body());
    for (String field : List.of("message", "type", "param", "code")) {
      assertTrue(error.has(field), () -> "'error." + field + "' missing: " + response.body());
    }
    assertTrue(error.get("message").isTextual() && !error.get("message").asText().isBlank(),
        () -> "error.message must be a helpful text: " + response.body());
    assertEquals(type, error.get("type").asText(), () -> "error.type; body: " + response.body());
    if (code != null) {
      assertEquals(code, error.get("code").asText(), () -> "error.code; body: " + response.body());
    }
    if (param == null) {
      assertTrue(error.get("param").isNull(), () -> "error.param should be null: " + response.body());
    } else {
      assertEquals(param, error.get("param").asText(), () -> "error.param; body: " + response.body());
    }
    return error;
  }

  static JsonNode assertBadRequest(HttpResponse<String> response, String param) throws Exception {
    return assertError(response, 400, "invalid_request_error", "invalid_value", param);
  }

  static void assertMessageMentions(JsonNode error, String... words) {
    String message = error.get("message").asText();
    for (String word : words) {
      assertTrue(message.contains(word), () -> "message should mention '" + word + "': " + message);
    }
  }

  static void assertNoSecret(String what, String body) {
    for (String secret : SECRETS) {
      assertFalse(body.contains(secret), () -> what + " leaks an upstream API key: " + body);
    }
  }

  // ---- authentication -----------------------------------------------------------------------

  @Test
  void noAuthorizationHeaderIs401() throws Exception {
    String key = "auth-none-1";
    JsonNode error = assertError(refused(key, () -> postJson(anonymous("/v1/responses").header(SESSION, key),
        "{\"model\":\"openclaw\",\"input\":\"hi\"}")), 401, "invalid_request_error", "invalid_api_key", null);
    assertMessageMentions(error, "Bearer");
    assertError(refused(key, () -> postJson(anonymous("/v1/chat/completions").header(SESSION, key),
            "{\"model\":\"openclaw\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")),
        401, "invalid_request_error", "invalid_api_key", null);
    assertError(send(anonymous("/v1/models").GET()), 401, "invalid_request_error", "invalid_api_key", null);
  }

  @Test
  void aWrongBearerTokenIs401() throws Exception {
    String key = "auth-wrong-1";
    for (String authorization : List.of("Bearer wrong-token", "Bearer " + TalonApi.TOKEN + "x", TalonApi.TOKEN)) {
      assertError(refused(key, () -> postJson(api.request("/v1/responses").setHeader("Authorization", authorization)
              .header(SESSION, key), "{\"model\":\"openclaw\",\"input\":\"hi\"}")),
          401, "invalid_request_error", "invalid_api_key", null);
      assertError(refused(key, () -> postJson(api.request("/v1/chat/completions")
              .setHeader("Authorization", authorization).header(SESSION, key),
              "{\"model\":\"openclaw\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")),
          401, "invalid_request_error", "invalid_api_key", null);
      assertError(send(api.request("/v1/models").setHeader("Authorization", authorization).GET()),
          401, "invalid_request_error", "invalid_api_key", null);
    }
  }

  @Test
  void healthAndReadyAnswerWithoutAToken() throws Exception {
    HttpResponse<String> health = send(anonymous("/health").GET());
    assertEquals(200, health.statusCode(), health.body());
    assertEquals("ok", TalonApi.json(health).path("status").asText());
    HttpResponse<String> ready = send(anonymous("/ready").GET());
    assertEquals(200, ready.statusCode(), ready.body());
    assertEquals("ready", TalonApi.json(ready).path("status").asText());
  }

  // ---- bodies that are not a request --------------------------------------------------------

  @Test
  void malformedJsonIs400() throws Exception {
    String key = "bad-json-1";
    JsonNode error = assertBadRequest(refused(key, () -> responses(key, "{\"input\": \"hi\"")), null);
    assertMessageMentions(error, "JSON");
    assertBadRequest(refused(key, () -> chat(key, "{model: openclaw}")), null);
    assertBadRequest(refused(key, () -> responses(key, "")), null);
  }

  @Test
  void aJsonArrayBodyIs400() throws Exception {
    String key = "bad-array-1";
    JsonNode error = assertBadRequest(refused(key, () -> responses(key, "[{\"input\":\"hi\"}]")), null);
    assertMessageMentions(error, "object");
    assertBadRequest(refused(key, () -> chat(key, "[]")), null);
  }

  // ---- fields of the wrong type or value ----------------------------------------------------

  @Test
  void inputOfTheWrongTypeIs400NamingInput() throws Exception {
    String key = "bad-input-type-1";
    JsonNode error = assertBadRequest(refused(key, () -> responses(key, "{\"model\":\"openclaw\",\"input\":5}")),
        "input");
    assertMessageMentions(error, "input");
  }

  /** A field of the wrong type or range, in both APIs: 400 naming it and saying what it must be. */
  @ParameterizedTest(name = "{0}")
  @CsvSource(delimiter = '|', value = {
      "temperature       | \"hot\" | temperature | number",
      "max_output_tokens | -1       | max_tokens  | positive integer",
      "stream            | \"yes\" | stream      | boolean"})
  void aFieldOfTheWrongTypeIs400(String field, String value, String chatField, String expected) throws Exception {
    String key = "bad-" + field;
    JsonNode error = assertBadRequest(refused(key, () -> responses(key,
        "{\"model\":\"openclaw\",\"input\":\"hi\",\"" + field + "\":" + value + "}")), field);
    assertMessageMentions(error, field, expected);
    assertBadRequest(refused(key, () -> chat(key, "{\"model\":\"openclaw\",\"" + chatField + "\":" + value + ","
        + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")), chatField);
  }

  @Test
  void chatMessagesThatAreNotAnArrayAre400() throws Exception {
    String key = "bad-messages-1";
    JsonNode error = assertBadRequest(refused(key, () -> chat(key,
        "{\"model\":\"openclaw\",\"messages\":\"hi\"}")), "messages");
    assertMessageMentions(error, "messages", "array");
    assertBadRequest(refused(key, () -> chat(key,
        "{\"model\":\"openclaw\",\"messages\":{\"role\":\"user\",\"content\":\"hi\"}}")), "messages");
  }

  @Test
  void anUnknownChatRoleIs400NamingTheMessage() throws Exception {
    String key = "bad-role-1";
    JsonNode error = assertBadRequest(refused(key, () -> chat(key, "{\"model\":\"openclaw\",\"messages\":"
        + "[{\"role\":\"robot\",\"content\":\"beep\"}]}")), "messages[0].role");
    assertMessageMentions(error, "robot");
    assertBadRequest(refused(key, () -> chat(key, "{\"model\":\"openclaw\",\"messages\":"
        + "[{\"role\":\"user\",\"content\":\"hi\"},{\"role\":\"robot\",\"content\":\"beep\"}]}")), "messages[1].role");
    assertBadRequest(refused(key, () -> responses(key, "{\"model\":\"openclaw\",\"input\":"
        + "[{\"role\":\"robot\",\"content\":\"beep\"}]}")), "input[0].role");
  }

  @Test
  void missingInputIs400() throws Exception {
    String key = "missing-input-1";
    JsonNode error = assertBadRequest(refused(key, () -> responses(key, "{\"model\":\"openclaw\"}")), "input");
    assertMessageMentions(error, "input");
    assertBadRequest(refused(key, () -> responses(key, "{\"model\":\"openclaw\",\"input\":[]}")), "input");
    assertBadRequest(refused(key, () -> chat(key, "{\"model\":\"openclaw\"}")), "messages");
    assertBadRequest(refused(key, () -> chat(key, "{\"model\":\"openclaw\",\"messages\":"
        + "[{\"role\":\"system\",\"content\":\"Be brief.\"}]}")), "messages");
  }

  @Test
  void anUnsupportedToolTypeIs400NamingIt() throws Exception {
    String key = "bad-tool-1";
    JsonNode error = assertBadRequest(refused(key, () -> responses(key, "{\"model\":\"openclaw\",\"input\":\"hi\","
        + "\"tools\":[{\"type\":\"web_search\"}]}")), "tools[0].type");
    assertMessageMentions(error, "web_search");
    assertBadRequest(refused(key, () -> chat(key, "{\"model\":\"openclaw\",\"messages\":"
        + "[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}},"
        + "{\"type\":\"code_interpreter\"}]}")), "tools[1].type");
  }

  @Test
  void anImageWhereNoModelCanTakeItIs400() throws Exception {
    String key = "bad-part-1";
    JsonNode error = assertBadRequest(refused(key, () -> responses(key, "{\"model\":\"openclaw\",\"input\":"
        + "[{\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Here:\"},"
        + "{\"type\":\"input_image\",\"image_url\":\"https://example.com/cat.png\"}]},{\"role\":\"user\","
        + "\"content\":\"hi\"}]}")), "input[0].content[1].type");
    assertMessageMentions(error, "user messages and tool results");
    assertMessageMentions(assertBadRequest(refused(key, () -> responses(key, "{\"model\":\"openclaw\",\"input\":"
        + "[{\"role\":\"user\",\"content\":[{\"type\":\"input_image\",\"file_id\":\"file-1\"}]}]}")),
        "input[0].content[0].file_id"), "data URL");
    assertBadRequest(refused(key, () -> chat(key, "{\"model\":\"openclaw\",\"messages\":[{\"role\":\"user\","
        + "\"content\":[{\"type\":\"image_url\",\"image_url\":{\"url\":\"file:///etc/passwd\"}}]}]}")),
        "messages[0].content[0].image_url.url");
    assertMessageMentions(assertBadRequest(refused(key, () -> responses(key, "{\"model\":\"openclaw\",\"input\":"
        + "[{\"role\":\"user\",\"content\":[{\"type\":\"input_file\",\"file_id\":\"file-1\"}]}]}")),
        "input[0].content[0].type"), "input_file");
  }

  // ---- things that do not exist -------------------------------------------------------------

  @Test
  void anUnknownModelIs404() throws Exception {
    String key = "unknown-model-1";
    JsonNode error = assertError(refused(key, () -> responses(key, "{\"model\":\"nope/nothing\",\"input\":\"hi\"}")),
        404, "invalid_request_error", "model_not_found", "model");
    assertMessageMentions(error, "nope/nothing");
    assertError(refused(key, () -> chat(key, "{\"model\":\"nope/nothing\",\"messages\":"
        + "[{\"role\":\"user\",\"content\":\"hi\"}]}")), 404, "invalid_request_error", "model_not_found", "model");
    assertError(refused(key, () -> responses(key, "{\"model\":\"openclaw/ghost\",\"input\":\"hi\"}")),
        404, "invalid_request_error", "model_not_found", "model");
    assertError(refused(key, () -> responses(key, "{\"model\":\"nope/nothing\",\"input\":\"hi\",\"stream\":true}")),
        404, "invalid_request_error", "model_not_found", "model");
    assertError(api.get("/v1/models/nope/nothing"), 404, "invalid_request_error", "model_not_found", "model");
  }

  @Test
  void anUnknownAgentHeaderIs404() throws Exception {
    String key = "unknown-agent-1";
    JsonNode error = assertError(refused(key, () -> api.post("/v1/responses",
            "{\"model\":\"openclaw\",\"input\":\"hi\"}", SESSION, key, "x-openclaw-agent-id", "ghost")),
        404, "invalid_request_error", "model_not_found", "x-openclaw-agent-id");
    assertMessageMentions(error, "ghost");
    assertError(refused(key, () -> api.post("/v1/chat/completions",
            "{\"model\":\"openclaw\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
            SESSION, key, "x-openclaw-agent-id", "ghost")),
        404, "invalid_request_error", "model_not_found", "x-openclaw-agent-id");
  }

  @Test
  void anUnknownFailoverModeHeaderIs400() throws Exception {
    String key = "failover-mode-1";
    JsonNode error = assertError(refused(key, () -> api.post("/v1/responses",
            "{\"model\":\"openclaw\",\"input\":\"hi\"}", SESSION, key, TurnRequest.FAILOVER_HEADER, "resume")),
        400, "invalid_request_error", "invalid_value", TurnRequest.FAILOVER_HEADER);
    assertMessageMentions(error, "resume");
  }

  @Test
  void anUnknownResponseIdIs404() throws Exception {
    JsonNode error = assertError(api.get("/v1/responses/resp_doesnotexist"),
        404, "invalid_request_error", "response_not_found", null);
    assertMessageMentions(error, "resp_doesnotexist");
    assertError(api.get("/v1/responses/resp_doesnotexist?stream=true"),
        404, "invalid_request_error", "response_not_found", null);

    String key = "unknown-previous-1";
    error = assertError(refused(key, () -> responses(key,
            "{\"model\":\"openclaw\",\"input\":\"hi\",\"previous_response_id\":\"resp_doesnotexist\"}")),
        404, "invalid_request_error", "response_not_found", "previous_response_id");
    assertMessageMentions(error, "resp_doesnotexist");
  }

  @Test
  void aWellFormedResponseIdThatDoesNotExistIs404() throws Exception {
    String key = "well-formed-1";
    String id = api.ids.of(key, UUID.randomUUID().toString());
    JsonNode error = assertError(api.get("/v1/responses/" + id), 404, "invalid_request_error", "response_not_found",
        null);
    assertMessageMentions(error, id);
    assertError(api.get("/v1/responses/" + id + "?stream=true"), 404, "invalid_request_error", "response_not_found",
        null);
    assertNoTurns(api, key);

    // previous_response_id naming it: with the id's own session header, and without any header
    error = assertError(refused(key, () -> responses(key,
            "{\"model\":\"openclaw\",\"input\":\"hi\",\"previous_response_id\":\"" + id + "\"}")),
        404, "invalid_request_error", "response_not_found", "previous_response_id");
    assertMessageMentions(error, id);
    assertError(refused(key, () -> api.post("/v1/responses",
            "{\"model\":\"openclaw\",\"input\":\"hi\",\"previous_response_id\":\"" + id + "\"}")),
        404, "invalid_request_error", "response_not_found", "previous_response_id");
  }

  @Test
  void anUnknownEndpointIs404() throws Exception {
    JsonNode error = assertError(api.get("/v1/nothing-here"), 404, "invalid_request_error", "unknown_url", null);
    assertMessageMentions(error, "nothing-here");
    assertError(api.post("/v1/completions", "{\"prompt\":\"hi\"}"), 404, "invalid_request_error", "unknown_url",
        null);
    assertError(api.get("/nothing-here"), 404, "invalid_request_error", "unknown_url", null);
  }

  @Test
  void aWrongMethodIs405() throws Exception {
    JsonNode error = assertError(api.get("/v1/chat/completions"), 405, "invalid_request_error", "method_not_allowed",
        null);
    assertMessageMentions(error, "POST");
    assertError(api.get("/v1/responses"), 405, "invalid_request_error", "method_not_allowed", null);
    assertError(send(api.request("/v1/models").DELETE()), 405, "invalid_request_error", "method_not_allowed", null);
  }

  // ---- conflicts ----------------------------------------------------------------------------

  @Test
  void aSecondTurnWhileOneRunsIs409() throws Exception {
    String key = "busy-1";
    int upstreamBefore = api.fake.requests().size();
    api.fake.enqueue(Script.reply("one two three four five").tokenDelay(Duration.ofMillis(300)));
    HttpResponse<Stream<String>> first = api.http.send(api.request("/v1/responses")
        .header("Content-Type", "application/json").header(SESSION, key)
        .POST(HttpRequest.BodyPublishers.ofString("{\"model\":\"openclaw\",\"input\":\"count\",\"stream\":true}"))
        .build(), HttpResponse.BodyHandlers.ofLines());
    assertEquals(200, first.statusCode());
    try (Stream<String> lines = first.body()) {
      Iterator<String> events = lines.iterator();
      // the turn has started once its first event arrived
      assertEquals("event: response.created", next(events, line -> line.startsWith("event:")));

      HttpResponse<String> second = chat(key, "{\"model\":\"openclaw\",\"messages\":"
          + "[{\"role\":\"user\",\"content\":\"me too\"}]}");
      JsonNode error = assertError(second, 409, "invalid_request_error", "conversation_busy", null);
      assertMessageMentions(error, "busy");
      assertError(responses(key, "{\"model\":\"openclaw\",\"input\":\"me too\"}"),
          409, "invalid_request_error", "conversation_busy", null);
      assertEquals(upstreamBefore + 1, api.fake.requests().size(), "the refused turns must not reach the upstream");

      // the first turn is unharmed: it runs to its end
      assertEquals("event: response.completed", next(events, line -> line.startsWith("event: response.completed")
          || line.startsWith("event: response.failed")));
    }
    List<Turn> turns = api.transcript(key).turns();
    assertEquals(1, turns.size(), () -> "exactly the first turn is journaled: " + turns);
    assertEquals(Status.COMPLETED, turns.get(0).status());
  }

  /** The next line that matches; fails when the stream ends first. */
  static String next(Iterator<String> lines, java.util.function.Predicate<String> wanted) {
    while (lines.hasNext()) {
      String line = lines.next();
      if (wanted.test(line)) {
        return line;
      }
    }
    return fail("the stream ended before the expected line");
  }

  @Test
  void cancellingAResponseThatIsNotRunningIs409() throws Exception {
    String key = "cancel-done-1";
    api.fake.enqueue(Script.reply("Done already."));
    HttpResponse<String> done = responses(key, "{\"model\":\"openclaw\",\"input\":\"hi\"}");
    assertEquals(200, done.statusCode(), done.body());
    String id = TalonApi.json(done).path("id").asText();

    int upstreamBefore = api.fake.requests().size();
    HttpResponse<String> cancel = send(api.request("/v1/responses/" + id + "/cancel")
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.noBody()));
    JsonNode error = assertError(cancel, 409, "invalid_request_error", "response_not_running", null);
    assertMessageMentions(error, id);
    assertEquals(upstreamBefore, api.fake.requests().size());
    List<Turn> turns = api.transcript(key).turns();
    assertEquals(1, turns.size());
    assertEquals(Status.COMPLETED, turns.get(0).status(), "a refused cancel leaves the turn as it was");

    // a response that does not exist at all cannot be cancelled either
    String unknown = api.ids.of("cancel-unknown-1", UUID.randomUUID().toString());
    assertError(send(api.request("/v1/responses/" + unknown + "/cancel")
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.noBody())),
        404, "invalid_request_error", "response_not_found", null);
    assertNoTurns(api, "cancel-unknown-1");
  }

  // ---- size ---------------------------------------------------------------------------------

  static String hugeRequest() {
    return "{\"model\":\"openclaw\",\"input\":\"" + "a".repeat(21 * 1024 * 1024) + "\"}";
  }

  @Test
  void aBodyOverTheLimitIs413() throws Exception {
    String key = "too-large-1";
    JsonNode error = assertError(refused(key, () -> responses(key, hugeRequest())),
        413, "invalid_request_error", "request_too_large", null);
    assertMessageMentions(error, Long.toString(dev.talon.config.GatewaySettings.Limits.DEFAULTS.maxBodyBytes()));
  }

  @Test
  void aChunkedBodyOverTheLimitIs413() throws Exception {
    String key = "too-large-chunked-1";
    byte[] body = hugeRequest().getBytes(StandardCharsets.UTF_8);
    // no Content-Length: the limit is only seen while reading
    JsonNode error = assertError(refused(key, () -> send(api.request("/v1/responses")
            .header("Content-Type", "application/json").header(SESSION, key)
            .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new ByteArrayInputStream(body))))),
        413, "invalid_request_error", "request_too_large", null);
    assertMessageMentions(error, Long.toString(dev.talon.config.GatewaySettings.Limits.DEFAULTS.maxBodyBytes()));
  }

  // ---- failures of the models ---------------------------------------------------------------

  @Test
  void everyCandidateFailingIs5xx(@TempDir Path ownData) throws Exception {
    // A node of its own: the failed models' cooldowns must not reach the other tests.
    try (TalonApi own = TalonApi.start(ownData)) {
      // retries: 1, so two attempts on local/a, then two on backup/b
      for (int i = 0; i < 4; i++) {
        own.fake.enqueue(Script.status(500, ErrorBodies.openAiServerError()));
      }
      String key = "all-fail-1";
      HttpResponse<String> response = own.post("/v1/responses", "{\"model\":\"openclaw\",\"input\":\"hi\"}",
          SESSION, key);
      assertTrue(response.statusCode() == 502 || response.statusCode() == 503, response.body());
      JsonNode error = assertError(response, response.statusCode(), "server_error", "server_error", null);
      assertMessageMentions(error, "failed", "backup/b", "HTTP 500");
      assertEquals(4, own.fake.requests().size());
      List<Turn> turns = own.transcript(key).turns();
      assertEquals(1, turns.size(), "the turn reached the models, so it is journaled");
      assertEquals(Status.FAILED, turns.get(0).status());
    }
  }

  @Test
  void aLocalServerThatIsNotStartedIsNamedFirstInOneLine(@TempDir Path ownData) throws Exception {
    // The shipped setup with LM Studio not running and no Anthropic key in the environment.
    int closedPort;
    try (java.net.ServerSocket socket = new java.net.ServerSocket(0)) {
      closedPort = socket.getLocalPort();
    }
    String config = """
        { agents: { defaults: { model: { primary: "lmstudio/qwen3", fallbacks: ["anthropic/claude-sonnet-4-5"] } } },
          models: { providers: { lmstudio: { baseUrl: "http://127.0.0.1:%d/v1", apiKey: "lmstudio",
                                             models: [{ id: "qwen3" }] } } },
          talon: { failover: { retries: 1, backoffInitialMs: 10, backoffMaxMs: 20 } } }
        """.formatted(closedPort);
    try (TalonApi own = TalonApi.start(ownData, TalonApi.TOKEN, config)) {
      String key = "not-started-1";
      HttpResponse<String> response = own.post("/v1/responses", "{\"input\":\"hi\"}", SESSION, key);
      String message = assertError(response, 502, "server_error", null, null).get("message").asText();
      String refused = "LM Studio at 127.0.0.1:" + closedPort + " refused the connection — is its server started?";
      assertTrue(message.contains("lmstudio/qwen3: CONNECTION_REFUSED " + refused), message);
      assertTrue(message.indexOf(refused) < message.indexOf("ANTHROPIC_API_KEY is not set"),
          () -> "the primary's reason comes first, then the fallback's: " + message);
      assertFalse(response.body().contains("Exception") || response.body().contains("Tcp command"), response.body());
      assertEquals(java.util.Arrays.asList("CONNECTION_REFUSED", "CONNECTION_REFUSED", "UNAVAILABLE"),
          own.transcript(key).turns().get(0).failure().attempts().stream()
              .map(dev.talon.conversation.Attempt::failureKind).toList(), "retried like a connection fault, then moved on");
    }
  }

  // ---- secrets ------------------------------------------------------------------------------

  @Test
  void apiKeysDoNotLeakFromModelsOrConversations() throws Exception {
    String key = "no-leak-1";
    api.fake.enqueue(Script.reply("Fine."));
    HttpResponse<String> turn = responses(key, "{\"model\":\"openclaw\",\"input\":\"hi\"}");
    assertEquals(200, turn.statusCode(), turn.body());

    HttpResponse<String> models = api.get("/v1/models");
    assertEquals(200, models.statusCode());
    assertNoSecret("GET /v1/models", models.body());
    for (String model : List.of("local/a", "backup/b", "main")) {
      HttpResponse<String> one = api.get("/v1/models/" + model);
      assertEquals(200, one.statusCode(), one.body());
      assertNoSecret("GET /v1/models/" + model, one.body());
    }
    HttpResponse<String> conversation = api.get("/v1/conversations/" + key);
    assertEquals(200, conversation.statusCode());
    assertEquals(1, TalonApi.json(conversation).path("turns").size());
    assertNoSecret("GET /v1/conversations/" + key, conversation.body());
  }

  @Test
  void anUpstream401DoesNotLeakApiKeys(@TempDir Path ownData) throws Exception {
    // A node of its own: the failed models' cooldowns must not reach the other tests.
    try (TalonApi own = TalonApi.start(ownData)) {
      // as OpenAI answers a wrong key: masked, never the key itself
      own.fake.enqueue(
          Script.status(401, ErrorBodies.openAi("Incorrect API key provided: sk-loca*******cret. You can find your"
              + " API key at https://platform.openai.com/account/api-keys.", "invalid_request_error", null,
              "invalid_api_key")),
          Script.status(401, ErrorBodies.openAi("Incorrect API key provided: sk-back********cret.",
              "invalid_request_error", null, "invalid_api_key")));
      String key = "upstream-401-1";
      HttpResponse<String> response = own.post("/v1/responses", "{\"model\":\"openclaw\",\"input\":\"hi\"}",
          SESSION, key);
      assertError(response, 502, "server_error", "auth", null);
      assertNoSecret("the error of an upstream 401", response.body());
      assertEquals(2, own.fake.requests().size(), "an auth failure moves on at once, without retries");
      // the key did go upstream, so it is the response that must not echo it
      assertEquals("Bearer sk-local-secret", own.fake.requests().get(0).header("Authorization"));

      HttpResponse<String> conversation = own.get("/v1/conversations/" + key);
      assertEquals(200, conversation.statusCode());
      assertNoSecret("GET /v1/conversations/" + key + " after an upstream 401", conversation.body());
      HttpResponse<String> models = own.get("/v1/models");
      assertNoSecret("GET /v1/models", models.body());
    }
  }

  @Test
  void anUpstreamThatEchoesTheKeyInItsErrorDoesNotGetItRelayed(@TempDir Path ownData) throws Exception {
    // Some proxies quote the key they were sent in full; Talon must not pass that on to its clients.
    try (TalonApi own = TalonApi.start(ownData)) {
      own.fake.enqueue(
          Script.status(401, ErrorBodies.openAi("Authentication Error: invalid API key 'sk-local-secret'",
              "auth_error", null, "401")),
          Script.status(401, ErrorBodies.openAi("Authentication Error: invalid API key 'sk-backup-secret'",
              "auth_error", null, "401")));
      String key = "upstream-401-echo-1";
      HttpResponse<String> response = own.post("/v1/chat/completions",
          "{\"model\":\"openclaw\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", SESSION, key);
      assertError(response, 502, "server_error", "auth", null);
      HttpResponse<String> conversation = own.get("/v1/conversations/" + key);
      assertEquals(200, conversation.statusCode());
      assertAll(
          () -> assertNoSecret("the error of an upstream 401", response.body()),
          () -> assertNoSecret("GET /v1/conversations/" + key + " after an upstream 401", conversation.body()));
    }
  }
}
