package dev.talon.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.upstream.UpstreamFailure.Kind;
import java.net.ConnectException;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Body shapes the fake upstream does not produce, and Retry-After forms. */
class ErrorClassifierTest {
  @ParameterizedTest
  @CsvSource(delimiter = '|', value = {
      // vLLM before 0.10.1: flat body with "object":"error"
      "400 | {\"object\":\"error\",\"message\":\"This model's maximum context length is 4096 tokens. However, you requested 4097 tokens\",\"type\":\"BadRequestError\",\"code\":400} | CONTEXT_OVERFLOW",
      // Ollama native and some proxies: error as a plain string
      "429 | {\"error\":\"Too Many Requests\"} | RATE_LIMIT",
      "400 | {\"error\":\"the prompt is longer than the context length currently available to the model\"} | CONTEXT_OVERFLOW",
      // Anthropic
      "400 | {\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"prompt is too long: 210000 tokens > 200000 maximum\"}} | CONTEXT_OVERFLOW",
      "402 | {\"type\":\"error\",\"error\":{\"type\":\"billing_error\",\"message\":\"Your credit balance is too low\"}} | QUOTA",
      "403 | {\"type\":\"error\",\"error\":{\"type\":\"permission_error\",\"message\":\"no\"}} | AUTH",
      // not JSON at all
      "502 | <html>Bad Gateway</html> | SERVER_ERROR",
      "503 | Loading model | MODEL_LOADING",
      "422 | {\"detail\":\"unprocessable\"} | BAD_REQUEST"})
  void classifiesHttpBodies(int status, String body, Kind kind) {
    assertEquals(kind, ErrorClassifier.fromHttp(status, body, null).kind());
  }

  @Test
  void liteLlmNoneStringsMeanNothing() {
    UpstreamFailure f = ErrorClassifier.fromHttp(500,
        "{\"error\":{\"message\":\"litellm.APIConnectionError: boom\",\"type\":\"None\",\"param\":\"None\",\"code\":\"500\"}}", null);
    assertEquals(Kind.SERVER_ERROR, f.kind());
    assertEquals("", f.errorType());
    assertEquals("500", f.errorCode());
  }

  @Test
  void anEmptyBodyStillNamesTheStatus() {
    assertEquals("HTTP 500", ErrorClassifier.fromHttp(500, "", null).message());
  }

  @Test
  void refusedConnectionsAndResets() {
    assertEquals(Kind.CONNECTION_REFUSED, ErrorClassifier.fromTransport(
        new RuntimeException("Tcp command failed", new ConnectException("Connection refused"))).kind());
    assertEquals(Kind.TRUNCATED, ErrorClassifier.fromTransport(new java.io.IOException("Connection reset by peer")).kind());
  }

  @Test
  void retryAfterInSecondsMillisecondsOrAsADate() {
    assertEquals(Duration.ofSeconds(3), ErrorClassifier.parseRetryAfter("3", null));
    assertEquals(Duration.ofMillis(1500), ErrorClassifier.parseRetryAfter("3", "1500"));
    String inAMinute = ZonedDateTime.now(ZoneOffset.UTC).plusSeconds(60).format(DateTimeFormatter.RFC_1123_DATE_TIME);
    Duration untilDate = ErrorClassifier.parseRetryAfter(inAMinute, null);
    assertTrue(untilDate.toSeconds() > 50 && untilDate.toSeconds() <= 60, untilDate::toString);
    assertNull(ErrorClassifier.parseRetryAfter("soon", null));
    assertNull(ErrorClassifier.parseRetryAfter(null, null));
  }
}
