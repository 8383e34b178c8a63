package dev.talon.upstream;

import java.time.Duration;
import java.util.Collection;
import java.util.Objects;

/**
 * Why a model call failed, with the evidence the server gave. The {@link Kind} is a closed set
 * the runtime acts on; {@link Kind#action()} says how.
 *
 * @param status the HTTP status, or 0 when the failure was not an HTTP answer
 * @param errorType the server's {@code error.type}, or null
 * @param errorCode the server's {@code error.code} as text, or null
 * @param retryAfter the server's {@code Retry-After}, or null
 */
public record UpstreamFailure(
    Kind kind, int status, String errorType, String errorCode, String message, Duration retryAfter) {

  public static UpstreamFailure of(Kind kind, String message) {
    return new UpstreamFailure(kind, 0, null, null, message, null);
  }

  public Action action() {
    return kind.action();
  }

  /**
   * This failure with {@code secrets} masked in its message: some servers and proxies quote the
   * key or headers they were sent, and messages end up in journals, logs and clients' error bodies.
   */
  public UpstreamFailure redacting(Collection<String> secrets) {
    String masked = message;
    for (String secret : secrets) {
      masked = masked == null || secret.isEmpty() ? masked : masked.replace(secret, "[redacted]");
    }
    return Objects.equals(masked, message) ? this
        : new UpstreamFailure(kind, status, errorType, errorCode, masked, retryAfter);
  }

  /** What the runtime does about a failure. */
  public enum Action {
    /** Transient: retry the same model with backoff, then fail over to the next candidate. */
    RETRY,
    /** This model cannot answer this request: move to the next candidate at once. */
    FAIL_OVER,
    /** The request is too long for the model: compact the context and retry. */
    COMPACT_AND_RETRY,
    /** Stop the turn: retrying or failing over would not help, or was not wanted. */
    FATAL
  }

  public enum Kind {
    CONTEXT_OVERFLOW(Action.COMPACT_AND_RETRY),
    RATE_LIMIT(Action.RETRY),
    QUOTA(Action.FAIL_OVER),
    OVERLOADED(Action.RETRY),
    /** 503 "Loading model". */
    MODEL_LOADING(Action.RETRY),
    /**
     * Nothing listens on the server's port: a local server not started, or one still loading (vLLM
     * binds its port only once the model is loaded).
     */
    CONNECTION_REFUSED(Action.RETRY),
    MODEL_NOT_FOUND(Action.FAIL_OVER),
    AUTH(Action.FAIL_OVER),
    BAD_REQUEST(Action.FAIL_OVER),
    SERVER_ERROR(Action.RETRY),
    /**
     * No first byte or token within the first-token timeout. That timeout already allows for a cold
     * model load, so a server still silent after it is hung: waiting the whole timeout again on the
     * same model would only delay the next candidate.
     */
    FIRST_TOKEN_TIMEOUT(Action.FAIL_OVER),
    /** The stream went silent for longer than the idle timeout after it had started. */
    IDLE_TIMEOUT(Action.RETRY),
    /** The connection ended without a terminal event, or broke mid-stream. */
    TRUNCATED(Action.RETRY),
    /** The provider cannot be called at all (for example its API key is not set). */
    UNAVAILABLE(Action.FAIL_OVER),
    CANCELLED(Action.FATAL);

    private final Action action;

    Kind(Action action) {
      this.action = action;
    }

    public Action action() {
      return action;
    }
  }
}
