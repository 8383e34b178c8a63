package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.ThrowableProxyUtil;
import ch.qos.logback.core.read.ListAppender;
import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.testing.ErrorBodies;
import dev.talon.testing.Script;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.pekko.http.javadsl.model.HttpEntity;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/**
 * API keys and header credentials never reach a client or the log through an upstream's error,
 * and an internal error gives the client only an id under which the log has the detail.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SecretsTest {
  static final List<String> SECRETS = List.of("sk-local-secret", "sk-backup-secret", TalonApi.HEADER_SECRET);

  private final ListAppender<ILoggingEvent> logs = new ListAppender<>();

  @BeforeEach
  void captureLogs() {
    logs.start();
    root().addAppender(logs);
  }

  @AfterEach
  void stopCapturing() {
    root().detachAppender(logs);
  }

  static Logger root() {
    return (Logger) LoggerFactory.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
  }

  String logged() {
    return logs.list.stream().map(e -> e.getFormattedMessage()
        + (e.getThrowableProxy() == null ? "" : "\n" + ThrowableProxyUtil.asString(e.getThrowableProxy())))
        .collect(Collectors.joining("\n"));
  }

  @Test
  void anUpstreamThatQuotesTheHeadersItWasSentLeaksThemNowhere(@TempDir Path data) throws Exception {
    try (TalonApi api = TalonApi.start(data)) {
      api.fake.enqueue(
          Script.status(403, ErrorBodies.openAi("Forbidden: x-upstream-token '" + TalonApi.HEADER_SECRET
              + "' with key sk-local-secret is not allowed", "permission_error", null, "403")),
          Script.status(401, ErrorBodies.openAi("bad key sk-backup-secret", "auth_error", null, "401")));
      String key = "secrets-header-echo-1";
      HttpResponse<String> response = api.post("/v1/responses", "{\"model\":\"openclaw\",\"input\":\"hi\"}",
          TurnRequest.SESSION_HEADER, key);
      assertEquals(2, api.fake.requests().size(), response.body());
      assertEquals(TalonApi.HEADER_SECRET, api.fake.requests().get(0).header("x-upstream-token"), "it was sent");
      String transcript = api.get("/v1/conversations/" + key).body();
      String printed = api.transcript(key).toString();
      for (String secret : SECRETS) {
        assertFalse(response.body().contains(secret), () -> "error body leaks " + secret + ": " + response.body());
        assertFalse(transcript.contains(secret), () -> "transcript leaks " + secret + ": " + transcript);
        assertFalse(printed.contains(secret), () -> "journaled turn leaks " + secret);
        assertFalse(logged().contains(secret), () -> "log leaks " + secret + ":\n" + logged());
      }
      assertTrue(response.body().contains("[redacted]"), response.body());
    }
  }

  @Test
  void anInternalErrorGivesTheClientAnIdAndTheLogTheDetail() throws Exception {
    var failure = new IllegalStateException("cannot reach jdbc:postgresql://db/talon?password=pg-secret-9");
    var response = ApiRoutes.errorResponse(new java.util.concurrent.CompletionException(failure));
    String body = ((HttpEntity.Strict) response.entity()).getData().utf8String();
    assertEquals(500, response.status().intValue());
    assertFalse(body.contains("pg-secret-9") || body.contains("IllegalStateException"), body);
    JsonNode error = TalonApi.JSON.readTree(body).get("error");
    String id = error.get("message").asText().replaceAll(".*(err_[0-9a-f]+).*", "$1");
    assertTrue(id.startsWith("err_"), body);
    String log = logged();
    assertTrue(log.contains(id) && log.contains("pg-secret-9"), () -> "the log must hold the detail under " + id
        + ":\n" + log);
  }
}
