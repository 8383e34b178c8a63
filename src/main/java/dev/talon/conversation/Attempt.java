package dev.talon.conversation;

/**
 * One call to one model within a turn.
 *
 * @param failureKind null for the call that succeeded, else the {@code UpstreamFailure.Kind} name
 * @param status the HTTP status of a failed call, or 0
 */
public record Attempt(String model, String failureKind, int status, String message, long millis)
    implements JsonSerializable {

  public boolean succeeded() {
    return failureKind == null;
  }
}
