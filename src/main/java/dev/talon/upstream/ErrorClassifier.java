package dev.talon.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.config.Provider;
import dev.talon.upstream.UpstreamFailure.Kind;
import java.io.IOException;
import java.net.ConnectException;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Sorts what a server said went wrong into the closed set of {@link Kind}s the runtime acts on
 * (protocols.md §5.7): by HTTP status first, then the server's error type and code, then its
 * message. Bodies come in every shape: OpenAI's {@code {"error":{…}}}, vLLM's int codes and old
 * flat form, LiteLLM's {@code "None"} strings, Ollama's {@code {"error":"…"}}, Anthropic's
 * {@code {"type":"error","error":{…}}}.
 */
public final class ErrorClassifier {
  private static final Pattern CONTEXT_OVERFLOW = Pattern.compile(
      "context_length_exceeded|exceed_context_size|context length|exceeds the (available )?context"
          + "|prompt is longer than the context length|prompt is too long|context window|context limit"
          + "|too many tokens|context size|reduce the length",
      Pattern.CASE_INSENSITIVE);
  private static final Pattern QUOTA = Pattern.compile(
      "insufficient_quota|billing|quota|credit balance|payment", Pattern.CASE_INSENSITIVE);
  private static final Pattern LOADING = Pattern.compile("loading model|model is loading|unavailable_error",
      Pattern.CASE_INSENSITIVE);
  private static final Pattern BUSY = Pattern.compile("server busy|overloaded|maximum pending requests",
      Pattern.CASE_INSENSITIVE);
  private static final Pattern NOT_FOUND = Pattern.compile(
      "model_not_found|not_found|notfound|does not exist|not found|no models loaded", Pattern.CASE_INSENSITIVE);
  private static final Pattern AUTH = Pattern.compile(
      "authentication|unauthorized|invalid api key|invalid_api_key|permission", Pattern.CASE_INSENSITIVE);
  private static final Pattern RATE = Pattern.compile("rate.?limit|too many requests", Pattern.CASE_INSENSITIVE);

  private ErrorClassifier() {}

  /** An HTTP error answer: the status, the body as text (any shape, or empty), and Retry-After. */
  public static UpstreamFailure fromHttp(int status, String body, Duration retryAfter) {
    Evidence e = Evidence.of(parse(body), body);
    return new UpstreamFailure(kindOf(status, e), status, e.type, e.code,
        e.message.isEmpty() ? "HTTP " + status : e.message, retryAfter);
  }

  /** An error reported inside a 200 stream: a frame with {@code error}, or a flat error event. */
  public static UpstreamFailure fromStreamError(JsonNode frame) {
    Evidence e = Evidence.of(frame, frame.toString());
    int status = e.numericCode;
    Kind kind = status >= 400 ? kindOf(status, e) : kindOf(0, e);
    return new UpstreamFailure(kind, Math.max(status, 0), e.type, e.code,
        e.message.isEmpty() ? "the server reported an error in the stream" : e.message, null);
  }

  /** A failure below HTTP: refused or broken connection, TLS, DNS. */
  public static UpstreamFailure fromTransport(Throwable t) {
    if (t instanceof UpstreamException u) {
      return u.failure();
    }
    String chain = describe(t);
    if (causedBy(t, ConnectException.class) || chain.toLowerCase(Locale.ROOT).contains("connection refused")) {
      return UpstreamFailure.of(Kind.CONNECTION_REFUSED, "connection refused: " + chain);
    }
    return UpstreamFailure.of(Kind.TRUNCATED, "connection failed: " + chain);
  }

  /** The failure as the exception a model call's stream fails with. */
  public static UpstreamException asUpstreamException(Throwable t) {
    return t instanceof UpstreamException u ? u : new UpstreamException(fromTransport(t), t);
  }

  /**
   * A request to {@code provider} that got no response. A refused connection is said in the one
   * line {@code models status} uses, rather than as Pekko's exception text: it reaches clients.
   */
  static UpstreamException connecting(Throwable t, Provider provider) {
    return fromTransport(t).kind() == Kind.CONNECTION_REFUSED
        ? new UpstreamException(UpstreamFailure.of(Kind.CONNECTION_REFUSED, ServerNames.refusedConnection(provider)), t)
        : asUpstreamException(t);
  }

  /** {@code Retry-After} (seconds or an HTTP date) or {@code retry-after-ms}; null when absent. */
  public static Duration parseRetryAfter(String retryAfter, String retryAfterMs) {
    try {
      if (retryAfterMs != null && !retryAfterMs.isBlank()) {
        return Duration.ofMillis((long) Double.parseDouble(retryAfterMs.trim()));
      }
      if (retryAfter == null || retryAfter.isBlank()) {
        return null;
      }
      String value = retryAfter.trim();
      if (value.matches("\\d+(\\.\\d+)?")) {
        return Duration.ofMillis((long) (Double.parseDouble(value) * 1000));
      }
      Duration until = Duration.between(ZonedDateTime.now(), ZonedDateTime.parse(value, DateTimeFormatter.RFC_1123_DATE_TIME));
      return until.isNegative() ? Duration.ZERO : until;
    } catch (RuntimeException unparseable) {
      return null;
    }
  }

  private static Kind kindOf(int status, Evidence e) {
    String all = e.type + " " + e.code + " " + e.message;
    if (CONTEXT_OVERFLOW.matcher(all).find() && (status == 0 || status == 400 || status == 413 || status == 422)) {
      return Kind.CONTEXT_OVERFLOW;
    }
    return switch (status) {
      case 401, 403 -> Kind.AUTH;
      case 402 -> Kind.QUOTA;
      case 404 -> Kind.MODEL_NOT_FOUND;
      case 408 -> Kind.SERVER_ERROR;
      case 429 -> QUOTA.matcher(all).find() ? Kind.QUOTA : Kind.RATE_LIMIT;
      case 503 -> LOADING.matcher(all).find() ? Kind.MODEL_LOADING
          : BUSY.matcher(all).find() ? Kind.OVERLOADED : Kind.SERVER_ERROR;
      case 529 -> Kind.OVERLOADED;
      case 0 -> fromTypeAndMessage(all);
      default -> status >= 500 ? (BUSY.matcher(all).find() ? Kind.OVERLOADED : Kind.SERVER_ERROR)
          : NOT_FOUND.matcher(e.type + " " + e.code).find() ? Kind.MODEL_NOT_FOUND : Kind.BAD_REQUEST;
    };
  }

  /** An in-stream error has no status: its type and code must say what it is. */
  private static Kind fromTypeAndMessage(String all) {
    if (QUOTA.matcher(all).find()) {
      return Kind.QUOTA;
    }
    if (RATE.matcher(all).find()) {
      return Kind.RATE_LIMIT;
    }
    if (BUSY.matcher(all).find()) {
      return Kind.OVERLOADED;
    }
    if (AUTH.matcher(all).find()) {
      return Kind.AUTH;
    }
    if (NOT_FOUND.matcher(all).find()) {
      return Kind.MODEL_NOT_FOUND;
    }
    if (all.contains("invalid_request") || all.contains("BadRequest")) {
      return Kind.BAD_REQUEST;
    }
    return Kind.SERVER_ERROR;
  }

  /** What a body says, whatever its shape. Empty strings stand for absent values. */
  private record Evidence(String type, String code, int numericCode, String message) {
    static Evidence of(JsonNode body, String raw) {
      if (body == null || !body.isContainerNode()) {
        return new Evidence("", "", 0, raw == null ? "" : raw.strip());
      }
      JsonNode error = body.has("error") ? body.get("error") : body;
      if (error.isTextual()) { // Ollama native, some proxies: {"error":"…"}
        return new Evidence("", "", 0, error.asText());
      }
      JsonNode code = error.path("code");
      int numeric = code.isInt() ? code.asInt()
          : code.isTextual() && code.asText().matches("\\d{3}") ? Integer.parseInt(code.asText())
          : error.path("status_code").asInt(0);
      return new Evidence(text(error.path("type")), text(code), numeric, text(error.path("message")));
    }

    private static String text(JsonNode node) {
      String value = node.isMissingNode() || node.isNull() ? "" : node.asText();
      return value.equals("None") ? "" : value; // LiteLLM writes Python's None as a string
    }
  }

  private static JsonNode parse(String body) {
    if (body == null || body.isBlank()) {
      return null;
    }
    try {
      return UpstreamJson.MAPPER.readTree(body);
    } catch (IOException notJson) {
      return null;
    }
  }

  private static boolean causedBy(Throwable t, Class<? extends Throwable> type) {
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (type.isInstance(c)) {
        return true;
      }
    }
    return false;
  }

  private static String describe(Throwable t) {
    StringBuilder out = new StringBuilder();
    for (Throwable c = t; c != null && out.length() < 300; c = c.getCause()) {
      if (c.getMessage() != null && out.indexOf(c.getMessage()) < 0) {
        out.append(out.length() == 0 ? "" : ": ").append(c.getMessage());
      }
    }
    return out.length() == 0 ? t.getClass().getSimpleName() : out.toString();
  }
}
