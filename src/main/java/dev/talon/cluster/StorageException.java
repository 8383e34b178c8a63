package dev.talon.cluster;

/** The journal database cannot be used: unreachable, refused, or its tables cannot be created. */
public final class StorageException extends RuntimeException {
  public StorageException(String message, Throwable cause) {
    super(message, cause);
  }
}
