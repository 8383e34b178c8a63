package dev.talon.gateway;

import static dev.talon.gateway.ApiErrorsTest.assertError;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.errors.BadRequestException;
import com.openai.models.responses.ResponseCreateParams;
import dev.talon.testing.ErrorBodies;
import dev.talon.testing.Script;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A turn whose every candidate fails before any output is answered with the HTTP status a client
 * can act on, streamed or not, as OpenAI answers: not a 200 stream that then fails, which clients
 * read as a timeout and retry. Each test runs a node of its own, so the failed models' cooldowns
 * stay there.
 */
class TurnFailureStatusTest {
  private static final String RESPONSES = "/v1/responses";
  private static final String CHAT = "/v1/chat/completions";

  HttpResponse<String> send(TalonApi node, String path, String key, boolean stream) throws Exception {
    String body = path.equals(RESPONSES)
        ? "{\"input\":\"a prompt that is far too long for the window\",\"stream\":" + stream + "}"
        : "{\"messages\":[{\"role\":\"user\",\"content\":\"a prompt that is far too long for the window\"}],"
            + "\"stream\":" + stream + "}";
    return node.post(path, body, TurnRequest.SESSION_HEADER, key);
  }

  @Test
  void aPromptTooLongForEveryModelIs400ContextLengthExceededOnBothApisStreamedOrNot(@TempDir Path data)
      throws Exception {
    try (TalonApi node = TalonApi.start(data)) {
      node.fake.setDefault(Script.reply("never").contextWindow(5));
      int n = 0;
      for (String path : new String[] {RESPONSES, CHAT}) {
        for (boolean stream : new boolean[] {false, true}) {
          HttpResponse<String> response = send(node, path, "too-long-" + n++, stream);
          assertError(response, 400, "invalid_request_error", "context_length_exceeded", null);
        }
      }
    }
  }

  @Test
  void theOfficialSdkDoesNotRetryAPromptTooLongForEveryModel(@TempDir Path data) throws Exception {
    try (TalonApi node = TalonApi.start(data)) {
      node.fake.setDefault(Script.reply("never").contextWindow(5));
      // the SDK's own default: it retries 5xx and 429 twice, never 400
      OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl(node.baseUrl()).apiKey(TalonApi.TOKEN).build();
      String key = "sdk-too-long";
      BadRequestException e = assertThrows(BadRequestException.class, () -> client.responses().create(
          ResponseCreateParams.builder().model("openclaw").input("a prompt that is far too long for the window")
              .putAdditionalHeader(TurnRequest.SESSION_HEADER, key).build()));
      assertEquals("context_length_exceeded", e.code().orElseThrow());
      assertEquals(1, node.transcript(key).turns().size(), "one call, one failed turn journaled");
    }
  }

  @Test
  void everyCandidateRefusingAtOnceIsA502StatusLineNotA200Stream(@TempDir Path data) throws Exception {
    try (TalonApi node = TalonApi.start(data)) {
      node.fake.setDefault(Script.status(401, ErrorBodies.openAi("Incorrect API key provided.",
          "invalid_request_error", null, "invalid_api_key")));
      assertError(send(node, RESPONSES, "refused-1", true), 502, "server_error", "auth", null);
      assertError(send(node, CHAT, "refused-2", true), 502, "server_error", "auth", null);
    }
  }

  @Test
  void rateLimitsOnEveryCandidateAre429WithTheServersRetryAfter(@TempDir Path data) throws Exception {
    try (TalonApi node = TalonApi.start(data)) {
      // over the retry-after cap, so each model is left at once rather than waited for
      node.fake.setDefault(Script.status(429, ErrorBodies.openAiRateLimit()).retryAfter(Duration.ofSeconds(60)));
      for (String path : new String[] {RESPONSES, CHAT}) {
        HttpResponse<String> response = send(node, path, "limited-" + path.length(), true);
        assertError(response, 429, "rate_limit_error", "rate_limit_exceeded", null);
        assertEquals("60", response.headers().firstValue("Retry-After").orElse(""), response.headers().map()::toString);
      }
    }
  }

  @Test
  void aTurnThatFailsOnlyAfterTheKeepAliveIntervalHasItsStatusLineAndKeepAlivesFirst(@TempDir Path data)
      throws Exception {
    try (TalonApi node = TalonApi.start(data)) {
      // the test node sends keep-alive comments every 300 ms; each failed call takes longer
      node.fake.setDefault(Script.status(500, ErrorBodies.openAiServerError()).headerDelay(Duration.ofMillis(500)));
      HttpResponse<String> response = send(node, RESPONSES, "late-failure", true);
      assertEquals(200, response.statusCode(), response.body());
      assertTrue(response.body().contains(": keep-alive"), response.body());
      assertTrue(response.body().indexOf(": keep-alive") < response.body().indexOf("event: response.failed"),
          response.body());
    }
  }
}
