package dev.talon.gateway;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.conversation.Attempt;
import dev.talon.conversation.ConversationEntity;
import dev.talon.conversation.TurnEvent;
import dev.talon.upstream.UpstreamFailure;
import java.util.Arrays;
import java.util.Objects;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;

/**
 * An error as OpenAI's SDKs expect it: an HTTP status and the body
 * {@code {"error":{"message","type","param","code"}}}. Route handlers throw it; one place turns it
 * into the response.
 */
public final class ApiError extends RuntimeException {
  private final int status;
  private final String type;
  private final String param;
  private final String code;
  /** Sent as {@code Retry-After} when positive. */
  private final int retryAfterSeconds;

  ApiError(int status, String type, String code, String param, String message) {
    this(status, type, code, param, message, 0);
  }

  private ApiError(int status, String type, String code, String param, String message, int retryAfterSeconds) {
    super(message, null, false, false);
    this.status = status;
    this.type = type;
    this.param = param;
    this.code = code;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  static ApiError badRequest(String param, String message) {
    return new ApiError(400, "invalid_request_error", "invalid_value", param, message);
  }

  static ApiError notFound(String code, String param, String message) {
    return new ApiError(404, "invalid_request_error", code, param, message);
  }

  static ApiError unauthorized() {
    return new ApiError(401, "invalid_request_error", "invalid_api_key", null,
        "Missing or incorrect bearer token: send \"Authorization: Bearer <gateway.auth.token>\".");
  }

  static ApiError busy(String turnId) {
    return new ApiError(409, "invalid_request_error", "conversation_busy", null,
        "The conversation is busy with another turn or a compaction (" + turnId + "); wait for it to end, or cancel the turn.");
  }

  static ApiError tooLarge(long limit) {
    return new ApiError(413, "invalid_request_error", "request_too_large", null,
        "The request body is larger than " + limit + " bytes (gateway.maxBodyMegabytes).");
  }

  /** A turn is usually over in seconds, so a client may try again after one. */
  static ApiError tooManyTurns(int max) {
    return new ApiError(429, "rate_limit_error", "too_many_turns", null, "This Talon node is already serving " + max
        + " turns (gateway.maxConcurrentTurns); try again shortly.", 1);
  }

  static ApiError unavailable(String message) {
    return new ApiError(503, "server_error", "unavailable", null, message);
  }

  static ApiError internal(String message) {
    return new ApiError(500, "server_error", "server_error", null, message);
  }

  /**
   * Every candidate of a turn failed, with the status a client can act on, as OpenAI answers: a
   * prompt too long for every model that could take it is the client's to shorten (400
   * {@code context_length_exceeded}: retrying would fail again); rate limits are a 429 with the
   * server's {@code Retry-After}; otherwise 503 when trying later may work, else 502.
   */
  static ApiError turnFailed(TurnEvent.Failed failed) {
    if (tooLongForEveryModel(failed)) {
      return new ApiError(400, "invalid_request_error", "context_length_exceeded", null, failed.reason());
    }
    if (failed.kind().equals(UpstreamFailure.Kind.RATE_LIMIT.name())) {
      return new ApiError(429, "rate_limit_error", "rate_limit_exceeded", null, failed.reason(),
          failed.attempts().stream().map(Attempt::retryAfterSeconds).filter(Objects::nonNull)
              .min(Integer::compare).orElse(1));
    }
    return new ApiError(retryable(failed.kind()) ? 503 : 502, "server_error", errorCode(failed.kind()), null,
        failed.reason());
  }

  /** Some model said the prompt is too long, and no other failed in a way that may pass. */
  private static boolean tooLongForEveryModel(TurnEvent.Failed failed) {
    String overflow = UpstreamFailure.Kind.CONTEXT_OVERFLOW.name();
    return failed.attempts().stream().anyMatch(attempt -> overflow.equals(attempt.failureKind()))
        && failed.attempts().stream().noneMatch(attempt -> attempt.failureKind() != null
            && retryable(attempt.failureKind()));
  }

  /** A journal that could not write, or a fault the failover policy would retry: trying later may work. */
  private static boolean retryable(String kind) {
    return kind.equals(ConversationEntity.STORAGE) || Arrays.stream(UpstreamFailure.Kind.values())
        .anyMatch(k -> k.name().equals(kind) && k.action() == UpstreamFailure.Action.RETRY);
  }

  /** The error code a failed turn is reported with, in OpenAI's lower-case style. */
  static String errorCode(String kind) {
    return kind.toLowerCase(java.util.Locale.ROOT);
  }

  /** The {@code error} object alone, as also sent inside streams. */
  ObjectNode error() {
    ObjectNode error = Json.object();
    error.put("message", getMessage());
    error.put("type", type);
    error.put("param", param);
    error.put("code", code);
    return error;
  }

  HttpResponse response() {
    ObjectNode body = Json.object();
    body.set("error", error());
    HttpResponse response = HttpResponse.create().withStatus(StatusCodes.get(status))
        .withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON, Json.bytes(body)));
    return retryAfterSeconds > 0
        ? response.addHeader(RawHeader.create("Retry-After", Integer.toString(retryAfterSeconds)))
        : response;
  }
}
