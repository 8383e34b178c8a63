package dev.talon.config;

/** A model ref, alias or name that does not resolve, or resolves to several models. */
public final class UnknownModelException extends RuntimeException {
  public UnknownModelException(String message) {
    super(message, null, false, false);
  }
}
