package dev.talon.config;

import java.time.Duration;
import java.util.Optional;

/**
 * Talon's own {@code gateway} key: where the OpenAI-compatible API listens, how clients
 * authenticate, and what it sends them. Without a token Talon only binds to loopback.
 *
 * @param bind a host address; {@code "loopback"} and {@code "lan"} are accepted as in OpenClaw
 * @param maxBodyBytes requests with a larger body are refused with 413
 * @param exposeReasoning send reasoning items to every client, not only to those that ask
 * @param keepAlive how often an SSE comment is sent while no event is due (a cold model loading)
 * @param drain how long a stopping gateway lets running turns finish before it closes them
 */
public record GatewaySettings(int port, String bind, Optional<String> authToken, long maxBodyBytes,
    boolean exposeReasoning, Duration keepAlive, Duration drain) {
  public static final int DEFAULT_PORT = 18789;
  public static final long DEFAULT_MAX_BODY_BYTES = 20L * 1024 * 1024;
  public static final Duration DEFAULT_KEEP_ALIVE = Duration.ofSeconds(15);
  public static final Duration DEFAULT_DRAIN = Duration.ofSeconds(30);

  /** The defaults on {@code port} and loopback, with {@code authToken} if not null. */
  public static GatewaySettings loopback(int port, String authToken) {
    return new GatewaySettings(port, "127.0.0.1", Optional.ofNullable(authToken), DEFAULT_MAX_BODY_BYTES, false,
        DEFAULT_KEEP_ALIVE, DEFAULT_DRAIN);
  }

  public GatewaySettings withPort(int newPort) {
    return new GatewaySettings(newPort, bind, authToken, maxBodyBytes, exposeReasoning, keepAlive, drain);
  }
}
