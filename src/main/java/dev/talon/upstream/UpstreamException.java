package dev.talon.upstream;

/** Fails a model call's stream; carries the classified {@link UpstreamFailure}. */
public final class UpstreamException extends RuntimeException {
  private final UpstreamFailure failure;

  public UpstreamException(UpstreamFailure failure) {
    super(failure.kind() + ": " + failure.message(), null, false, false);
    this.failure = failure;
  }

  public UpstreamException(UpstreamFailure failure, Throwable cause) {
    super(failure.kind() + ": " + failure.message(), cause, false, false);
    this.failure = failure;
  }

  public UpstreamFailure failure() {
    return failure;
  }
}
