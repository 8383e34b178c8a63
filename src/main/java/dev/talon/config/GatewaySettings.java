package dev.talon.config;

import java.util.Optional;

/**
 * Talon's own {@code gateway} key: where the OpenAI-compatible API listens and how clients
 * authenticate. Without a token Talon only binds to loopback.
 *
 * @param bind a host address; {@code "loopback"} and {@code "lan"} are accepted as in OpenClaw
 */
public record GatewaySettings(int port, String bind, Optional<String> authToken) {
  public static final int DEFAULT_PORT = 18789;

  public GatewaySettings withPort(int newPort) {
    return new GatewaySettings(newPort, bind, authToken);
  }
}
