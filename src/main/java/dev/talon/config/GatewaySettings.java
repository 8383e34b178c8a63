package dev.talon.config;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Talon's own {@code gateway} key: where the OpenAI-compatible API listens, how clients
 * authenticate, which browsers may call it, and how much it takes on at once. Without a token
 * Talon only binds to loopback.
 *
 * @param bind a host address; {@code "loopback"} and {@code "lan"} are accepted as in OpenClaw
 * @param exposeReasoning send reasoning items to every client, not only to those that ask
 * @param keepAlive how often an SSE comment is sent while no event is due (a cold model loading)
 * @param responseIdSecret the key response ids are sealed with; empty means one generated into
 *     the data directory (cluster nodes must then be given a shared one)
 * @param publicMetrics {@code GET /metrics} answers without the token
 */
public record GatewaySettings(int port, String bind, Optional<String> authToken, boolean exposeReasoning,
    Duration keepAlive, Browsers browsers, Limits limits, Optional<String> responseIdSecret, boolean publicMetrics) {
  public static final int DEFAULT_PORT = 18789;
  public static final Duration DEFAULT_KEEP_ALIVE = Duration.ofSeconds(15);

  /**
   * Which web pages may talk to the API, beyond non-browser clients (which send no
   * {@code Origin}) and the loopback names.
   *
   * @param allowedHosts extra names a request's {@code Host} may carry (DNS-rebinding guard)
   * @param allowedOrigins browser origins ({@code scheme://host[:port]}) allowed to call the API
   */
  public record Browsers(List<String> allowedHosts, List<String> allowedOrigins) {
    public static final Browsers NONE = new Browsers(List.of(), List.of());

    public Browsers {
      allowedHosts = List.copyOf(allowedHosts);
      allowedOrigins = List.copyOf(allowedOrigins);
    }
  }

  /**
   * How much the gateway takes on, so that a burst is answered with clear errors rather than
   * dropped connections.
   *
   * @param maxBodyBytes requests with a larger body are refused with 413
   * @param maxConcurrentTurns turns this node serves at once; more get 429
   * @param backlog the listen socket's queue of connections not yet accepted
   * @param askTimeout how long a request waits for its conversation to answer a command
   * @param bodyReadTimeout how long a client may take to send its request body
   * @param drain how long a stopping gateway lets running turns finish before it closes them
   */
  public record Limits(long maxBodyBytes, int maxConcurrentTurns, int backlog, Duration askTimeout,
      Duration bodyReadTimeout, Duration drain) {
    /** 1,024 turns: a node's target is 1,000 live streams, and the upstream pool holds 1,024 connections. */
    public static final Limits DEFAULTS = new Limits(20L * 1024 * 1024, 1024, 1024, Duration.ofSeconds(15),
        Duration.ofSeconds(60), Duration.ofSeconds(30));
  }

  /** Whether {@code host} names this machine's loopback interface (an unknown name does not). */
  public static boolean isLoopback(String host) {
    try {
      return InetAddress.getByName(host).isLoopbackAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }

  /**
   * Whether the API would listen beyond loopback without a token, open to anyone who can reach
   * it: the gateway refuses to start so.
   */
  public boolean openBeyondLoopback() {
    return authToken.isEmpty() && !isLoopback(bind);
  }

  /** The defaults on {@code port} and loopback, with {@code authToken} if not null. */
  public static GatewaySettings loopback(int port, String authToken) {
    return new GatewaySettings(port, "127.0.0.1", Optional.ofNullable(authToken), false, DEFAULT_KEEP_ALIVE,
        Browsers.NONE, Limits.DEFAULTS, Optional.empty(), false);
  }

  public GatewaySettings withPort(int newPort) {
    return new GatewaySettings(newPort, bind, authToken, exposeReasoning, keepAlive, browsers, limits,
        responseIdSecret, publicMetrics);
  }

  @Override
  public String toString() {
    return "GatewaySettings[port=" + port + ", bind=" + bind + ", authToken=" + Secrets.masked(authToken)
        + ", exposeReasoning=" + exposeReasoning + ", keepAlive=" + keepAlive + ", browsers=" + browsers
        + ", limits=" + limits + ", responseIdSecret=" + Secrets.masked(responseIdSecret) + ", publicMetrics="
        + publicMetrics + "]";
  }
}
