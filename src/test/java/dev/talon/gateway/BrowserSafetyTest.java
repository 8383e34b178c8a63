package dev.talon.gateway;

import static dev.talon.gateway.ApiErrorsTest.assertBadRequest;
import static dev.talon.gateway.ApiErrorsTest.assertError;
import static dev.talon.gateway.ApiErrorsTest.assertMessageMentions;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.config.GatewaySettings;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A web page the user visits must not be able to use the API: not by a "simple" cross-site POST,
 * not from a foreign origin, not through DNS rebinding (a foreign Host). A configured web UI's
 * origin is let in, with CORS answers. Refused requests never reach a model or a journal.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class BrowserSafetyTest {
  static final String WEB_UI = "http://localhost:3000";
  static final String EXTRA_HOST = "talon.internal";
  static final String SESSION = TurnRequest.SESSION_HEADER;
  static final String HI = "{\"model\":\"openclaw\",\"input\":\"hi\"}";

  @TempDir static Path dataDir;
  TalonApi api;

  @BeforeAll
  void startNode() throws Exception {
    api = TalonApi.start(dataDir, TalonApi.TOKEN, "", settings -> new GatewaySettings(settings.port(), settings.bind(),
        settings.authToken(), settings.exposeReasoning(), settings.keepAlive(),
        new GatewaySettings.Browsers(List.of(EXTRA_HOST), List.of(WEB_UI)), settings.limits(),
        settings.responseIdSecret(), settings.publicMetrics()));
  }

  @AfterAll
  void stopNode() throws Exception {
    api.close();
  }

  /** Sends {@code call}, which must be refused before it reaches a model or the journal of {@code key}. */
  HttpResponse<String> refused(String key, ApiErrorsTest.Call call) throws Exception {
    int upstreamBefore = api.fake.requests().size();
    HttpResponse<String> response = call.send();
    assertEquals(upstreamBefore, api.fake.requests().size(), () -> "reached the upstream: " + response.body());
    ApiErrorsTest.assertNoTurns(api, key);
    return response;
  }

  HttpResponse<String> send(HttpRequest.Builder request) throws Exception {
    return api.http.send(request.build(), HttpResponse.BodyHandlers.ofString());
  }

  // ---- content type -------------------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(strings = {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"})
  void aPostThatIsNotDeclaredJsonIs415(String contentType) throws Exception {
    String key = "browser-ct-" + contentType.hashCode();
    HttpResponse<String> response = refused(key, () -> send(api.request("/v1/responses")
        .header("Content-Type", contentType).header(SESSION, key).POST(HttpRequest.BodyPublishers.ofString(HI))));
    assertMessageMentions(assertError(response, 415, "invalid_request_error", "unsupported_media_type", null),
        "application/json");
  }

  @Test
  void aPostWithoutContentTypeIs415() throws Exception {
    String key = "browser-ct-none";
    assertError(refused(key, () -> send(api.request("/v1/chat/completions").header(SESSION, key)
            .POST(HttpRequest.BodyPublishers.ofString("{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")))),
        415, "invalid_request_error", "unsupported_media_type", null);
  }

  // ---- origin -------------------------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(strings = {"https://evil.example", "null", "http://localhost:3001", "http://127.0.0.1:18789"})
  void aForeignOriginIs403(String origin) throws Exception {
    String key = "browser-origin-" + Integer.toHexString(origin.hashCode());
    HttpResponse<String> response = refused(key, () -> api.post("/v1/responses", HI, SESSION, key, "Origin", origin));
    assertMessageMentions(assertError(response, 403, "invalid_request_error", "origin_not_allowed", null),
        "gateway.allowedOrigins");
    assertFalse(response.headers().firstValue("Access-Control-Allow-Origin").isPresent());
    // reading is refused as well: a foreign page cannot fetch a transcript
    assertEquals(403, send(api.request("/v1/conversations/" + key).header("Origin", origin).GET()).statusCode());
  }

  @Test
  void anAllowedOriginsPreflightIsAnswered() throws Exception {
    HttpResponse<String> preflight = send(api.request("/v1/responses").header("Origin", WEB_UI)
        .header("Access-Control-Request-Method", "POST")
        .header("Access-Control-Request-Headers", "authorization, content-type, x-talon-session-key")
        .method("OPTIONS", HttpRequest.BodyPublishers.noBody()));
    assertEquals(204, preflight.statusCode(), preflight.body());
    assertEquals(WEB_UI, preflight.headers().firstValue("Access-Control-Allow-Origin").orElse(null));
    assertTrue(preflight.headers().firstValue("Access-Control-Allow-Methods").orElse("").contains("POST"));
    assertEquals("authorization, content-type, x-talon-session-key",
        preflight.headers().firstValue("Access-Control-Allow-Headers").orElse(null));

    HttpResponse<String> foreign = send(api.request("/v1/responses").header("Origin", "https://evil.example")
        .header("Access-Control-Request-Method", "POST").method("OPTIONS", HttpRequest.BodyPublishers.noBody()));
    assertError(foreign, 403, "invalid_request_error", "origin_not_allowed", null);
    assertFalse(foreign.headers().firstValue("Access-Control-Allow-Origin").isPresent());
  }

  @Test
  void anAllowedOriginGetsItsAnswerWithCorsHeaders() throws Exception {
    String key = "browser-web-ui-1";
    HttpResponse<String> response = api.post("/v1/responses", HI, SESSION, key, "Origin", WEB_UI);
    assertEquals(200, response.statusCode(), response.body());
    assertEquals(WEB_UI, response.headers().firstValue("Access-Control-Allow-Origin").orElse(null));
    assertTrue(response.headers().firstValue("Access-Control-Expose-Headers").orElse("").contains(SESSION));
    // errors carry them too, so the page can read what went wrong
    HttpResponse<String> missing = send(api.request("/v1/nothing-here").header("Origin", WEB_UI).GET());
    assertEquals(404, missing.statusCode());
    assertEquals(WEB_UI, missing.headers().firstValue("Access-Control-Allow-Origin").orElse(null));
  }

  @Test
  void theChatPageTalonServesIsItsOwnOriginAndLetIn() throws Exception {
    int port = api.server.localAddress().getPort();
    HttpResponse<String> response = api.post("/v1/responses", HI, SESSION, "browser-own-page-1",
        "Origin", "http://127.0.0.1:" + port);
    assertEquals(200, response.statusCode(), response.body());
    assertFalse(response.headers().firstValue("Access-Control-Allow-Origin").isPresent(), "same origin: no CORS");
    // the same server under another name is another origin: a rebinding page's would be one
    String other = "browser-own-page-2";
    assertError(refused(other, () -> api.post("/v1/responses", HI, SESSION, other, "Origin", "http://localhost:" + port)),
        403, "invalid_request_error", "origin_not_allowed", null);
  }

  // ---- host (DNS rebinding) -----------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(strings = {"evil.example", "evil.example:18789", "localhost.evil.example", "127.0.0.1.nip.io",
      "192.168.1.20"})
  void aForeignHostIs403(String host) throws Exception {
    int upstreamBefore = api.fake.requests().size();
    String response = api.raw("POST /v1/responses HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer "
        + TalonApi.TOKEN + "\r\nContent-Type: application/json\r\n" + SESSION + ": browser-host-1\r\n"
        + "Content-Length: " + HI.length() + "\r\nConnection: close\r\n\r\n" + HI);
    assertTrue(response.startsWith("HTTP/1.1 403"), response);
    assertTrue(response.contains("host_not_allowed") && response.contains("gateway.allowedHosts"), response);
    assertEquals(upstreamBefore, api.fake.requests().size());
    ApiErrorsTest.assertNoTurns(api, "browser-host-1");
  }

  @ParameterizedTest
  @ValueSource(strings = {"localhost", "localhost:18789", "127.0.0.1", "127.0.0.1:1", "127.10.20.30:80", "[::1]",
      "[::1]:18789", "LOCALHOST", EXTRA_HOST, EXTRA_HOST + ":443"})
  void loopbackNamesAndAllowedHostsAreServed(String host) throws Exception {
    String response = api.raw("GET /v1/models HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer " + TalonApi.TOKEN
        + "\r\nConnection: close\r\n\r\n");
    assertTrue(response.startsWith("HTTP/1.1 200"), response);
  }

  // ---- strict JSON --------------------------------------------------------------------------

  @ParameterizedTest
  @ValueSource(strings = {"{\"input\":\"hi\"} trailing", "{\"input\":\"hi\"}{\"input\":\"again\"}",
      "{\"input\":\"hi\",\"input\":\"other\"}", "{\"input\":\"hi\",\"metadata\":{\"a\":\"1\",\"a\":\"2\"}}"})
  void trailingGarbageAndDuplicateKeysAre400(String body) throws Exception {
    String key = "browser-json-" + Integer.toHexString(body.hashCode());
    assertMessageMentions(assertBadRequest(refused(key, () -> api.post("/v1/responses", body, SESSION, key)), null),
        "JSON");
  }

  // ---- response ids -------------------------------------------------------------------------

  @Test
  void responseIdsDoNotShowTheirSessionKeyAndOpenOnlyUnaltered() throws Exception {
    String key = "user:alice@example.com";
    HttpResponse<String> created = api.post("/v1/responses", HI, SESSION, key);
    assertEquals(200, created.statusCode(), created.body());
    String id = TalonApi.json(created).get("id").asText();
    byte[] decoded = Base64.getUrlDecoder().decode(id.substring(ResponseIds.PREFIX.length()));
    assertFalse(new String(decoded, StandardCharsets.ISO_8859_1).contains("alice"), id);
    assertFalse(id.contains("alice") || id.contains(Base64.getUrlEncoder().withoutPadding()
        .encodeToString("alice".getBytes(StandardCharsets.UTF_8))), id);

    assertEquals(200, api.get("/v1/responses/" + id).statusCode());
    JsonNode transcript = TalonApi.json(api.get("/v1/conversations/" + key));
    assertEquals(id, transcript.path("turns").get(0).path("response_id").asText(), "one response, one id");

    for (int i = ResponseIds.PREFIX.length(); i < id.length(); i += 7) {
      char[] tampered = id.toCharArray();
      tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
      assertError(api.get("/v1/responses/" + new String(tampered)), 404, "invalid_request_error",
          "response_not_found", null);
    }
    String turnId = api.ids.parse(id).orElseThrow().turnId();
    String foreign = new ResponseIds("another node's secret, not this one's".getBytes(StandardCharsets.UTF_8))
        .of(key, turnId);
    assertError(api.get("/v1/responses/" + foreign), 404, "invalid_request_error", "response_not_found", null);
  }
}
