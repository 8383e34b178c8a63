package dev.talon.gateway;

import static dev.talon.gateway.ApiErrorsTest.assertBadRequest;
import static dev.talon.gateway.ApiErrorsTest.assertError;
import static dev.talon.gateway.ApiErrorsTest.assertMessageMentions;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URLEncoder;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.pekko.persistence.jdbc.query.javadsl.JdbcReadJournal;
import org.apache.pekko.persistence.query.PersistenceQuery;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Session keys from every place a client gives one (the session headers, {@code user}, the
 * conversations path) are checked before anything reaches a conversation: an odd key is a 400
 * naming where it came from, nothing is journaled and no model is called.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class SessionKeysTest extends OnANode {
  /** Pekko's own limits (pekko.http.server.parsing.max-uri-length, max-header-value-length). */
  static final int URI_LIMIT = 2048;
  static final int HEADER_LIMIT = 8192;
  static final String HI = "{\"model\":\"openclaw\",\"input\":\"hi\"}";

  /** NUL, line breaks, a path, 10 KB, just over the limit, non-ASCII, a space, a slash. */
  static Stream<String> oddKeys() {
    return Stream.of("a\u0000b", "line\nbreak", "cr\rhere", "../../etc/passwd", "x".repeat(10 * 1024),
        "k".repeat(SessionKeys.MAX_LENGTH + 1), "ключ", "tab\there", "with space", "a/b", "%00");
  }

  /** The odd keys a header line can carry at all (a line break would end it). */
  static Stream<String> oddHeaderKeys() {
    return oddKeys().filter(key -> !key.contains("\n") && !key.contains("\r"));
  }

  private Set<String> journaledBefore;
  private int upstreamBefore;

  @BeforeEach
  void remember() throws Exception {
    journaledBefore = persistenceIds();
    upstreamBefore = api.fake.requests().size();
  }

  @AfterEach
  void nothingJournaledOrSent() throws Exception {
    assertEquals(journaledBefore, persistenceIds(), "a refused key must leave the journal as it was");
    assertEquals(upstreamBefore, api.fake.requests().size(), "a refused key must not reach a model");
  }

  Set<String> persistenceIds() throws Exception {
    return new TreeSet<>(PersistenceQuery.get(api.runtime.system().classicSystem())
        .getReadJournalFor(JdbcReadJournal.class, JdbcReadJournal.Identifier()).currentPersistenceIds()
        .runWith(Sink.seq(), Materializer.matFromSystem(api.runtime.system()))
        .toCompletableFuture().get(15, TimeUnit.SECONDS));
  }

  @ParameterizedTest
  @MethodSource("oddKeys")
  void anOddUserIs400NamingUser(String user) throws Exception {
    String body = "{\"model\":\"openclaw\",\"input\":\"hi\",\"user\":" + TalonApi.JSON.writeValueAsString(user) + "}";
    assertMessageMentions(assertBadRequest(api.post("/v1/responses", body), "user"), "session key", "user");
    String chat = "{\"model\":\"openclaw\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"user\":"
        + TalonApi.JSON.writeValueAsString(user) + "}";
    assertBadRequest(api.post("/v1/chat/completions", chat), "user");
  }

  @ParameterizedTest
  @MethodSource("oddKeys")
  void anOddConversationPathIs400(String key) throws Exception {
    String path = "/v1/conversations/" + URLEncoder.encode(key, StandardCharsets.UTF_8).replace("+", "%20");
    HttpResponse<String> read = api.get(path);
    if (path.length() > URI_LIMIT) { // Pekko refuses it before Talon sees it, in the same error shape
      assertError(read, 414, "invalid_request_error", "invalid_request", null);
      return;
    }
    assertMessageMentions(assertBadRequest(read, null), "session key", "path");
    assertBadRequest(api.http.send(api.request(path).DELETE().build(), HttpResponse.BodyHandlers.ofString()), null);
  }

  /** Raw bytes, as a client that does not check its headers would send them. */
  @ParameterizedTest
  @MethodSource("oddHeaderKeys")
  void anOddSessionHeaderIs400NamingIt(String key) throws Exception {
    for (String header : List.of(TurnRequest.SESSION_HEADER, TurnRequest.OPENCLAW_SESSION_HEADER)) {
      String response = api.raw("POST /v1/responses HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
          + TalonApi.TOKEN + "\r\nContent-Type: application/json\r\n" + header + ": " + key + "\r\nContent-Length: "
          + HI.length() + "\r\nConnection: close\r\n\r\n" + HI);
      assertTrue(response.startsWith(key.length() > HEADER_LIMIT ? "HTTP/1.1 431" : "HTTP/1.1 400")
          && response.contains("\"type\":\"invalid_request_error\""), response);
      // Pekko refuses a NUL or an overlong header itself, before Talon sees it, in the same error shape
      if (key.length() <= HEADER_LIMIT && !key.contains("\u0000")) {
        assertTrue(response.contains(header), response);
      }
    }
  }

  @Test
  void aKeyOfEveryAllowedCharacterAtTheLimitIsServedAndEchoedAsSent() throws Exception {
    String allowed = "AZaz09._:@+=-";
    String key = (allowed + "k".repeat(SessionKeys.MAX_LENGTH)).substring(0, SessionKeys.MAX_LENGTH);
    HttpResponse<String> response = api.post("/v1/responses", HI, TurnRequest.SESSION_HEADER, key);
    assertEquals(200, response.statusCode(), response.body());
    assertEquals(key, response.headers().firstValue(TurnRequest.SESSION_HEADER).orElse(null));
    assertEquals(200, api.get("/v1/conversations/" + key).statusCode());
    journaledBefore.add("Conversation|" + key);
    upstreamBefore++;
  }
}
