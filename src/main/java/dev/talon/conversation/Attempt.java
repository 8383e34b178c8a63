package dev.talon.conversation;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * One call to one model within a turn.
 *
 * @param failureKind null for the call that succeeded, else the {@code UpstreamFailure.Kind} name
 * @param status the HTTP status of a failed call, or 0
 * @param retryAfterSeconds how long the server asked to be left alone ({@code Retry-After}), or
 *     null; absent from turns journaled before it was kept
 */
public record Attempt(String model, String failureKind, int status, String message, long millis,
    @JsonInclude(JsonInclude.Include.NON_NULL) Integer retryAfterSeconds) implements JsonSerializable {

  public Attempt(String model, String failureKind, int status, String message, long millis) {
    this(model, failureKind, status, message, millis, null);
  }

  public boolean succeeded() {
    return failureKind == null;
  }
}
