package dev.talon.config;

import java.net.URI;
import java.net.URISyntaxException;
import java.time.Duration;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Talon's {@code talon.mcp} key: the MCP servers whose tools agents may use, and the limits of
 * every call to them. A server is started on first use, restarted with backoff when it dies, and
 * stopped with the node.
 *
 * @param servers by id, in file order
 * @param startTimeout how long starting a server (its process or connection, the MCP handshake,
 *     the first tool list) may take
 * @param stopTimeout how long a stopping server may take to exit before it is killed
 * @param maxResultChars a tool result longer than this is cut, with its full length noted
 * @param restartBackoffInitial the wait before the first restart of a server that died or
 *     failed to start, doubling with each further failure
 * @param restartBackoffMax the longest wait between restarts
 * @param allowedUrls the only server URLs a request may name in OpenAI's {@code type: "mcp"}
 *     tool form
 * @param approvalTimeout how long a call that needs a person's approval waits for it before it
 *     is refused
 * @param requestedServerIdle how long a server that requests named may go unused before its
 *     connection is closed; the next request that names it connects again
 */
public record McpSettings(Map<String, Server> servers, Duration callTimeout, Duration startTimeout,
    Duration stopTimeout, int maxResultChars, Duration restartBackoffInitial, Duration restartBackoffMax,
    List<URI> allowedUrls, Duration approvalTimeout, Duration requestedServerIdle) {
  public static final Duration DEFAULT_CALL_TIMEOUT = Duration.ofSeconds(60);
  /** Room for {@code npx} or a cold interpreter; a local server is usually up within a second or two. */
  public static final Duration DEFAULT_START_TIMEOUT = Duration.ofSeconds(30);
  /** Below Pekko's 5 s default for a shutdown phase, so the kill that follows still happens within it. */
  public static final Duration DEFAULT_STOP_TIMEOUT = Duration.ofSeconds(2);
  public static final int DEFAULT_MAX_RESULT_CHARS = 20_000;
  /** Long enough for a person to read the call; short enough that a forgotten turn does not hold its conversation. */
  public static final Duration DEFAULT_APPROVAL_TIMEOUT = Duration.ofMinutes(10);
  /**
   * Long enough that a conversation's next turn, a person's reply away, finds the session still
   * open; short enough that servers clients named once do not pile up.
   */
  public static final Duration DEFAULT_REQUESTED_SERVER_IDLE = Duration.ofMinutes(10);
  public static final McpSettings NONE = new McpSettings(Map.of(), DEFAULT_CALL_TIMEOUT, DEFAULT_START_TIMEOUT,
      DEFAULT_STOP_TIMEOUT, DEFAULT_MAX_RESULT_CHARS, Duration.ofMillis(500), Duration.ofSeconds(30), List.of(),
      DEFAULT_APPROVAL_TIMEOUT, DEFAULT_REQUESTED_SERVER_IDLE);

  public McpSettings {
    servers = Collections.unmodifiableMap(new LinkedHashMap<>(servers));
    allowedUrls = List.copyOf(allowedUrls);
  }

  public Set<String> ids() {
    return servers.keySet();
  }

  /** Whether a request may name the server at {@code url} (compared as the config normalises URLs). */
  public boolean allowsUrl(String url) {
    return url(url).map(allowedUrls::contains).orElse(false);
  }

  /**
   * An http(s) URL with a host, in one spelling: scheme and host in lower case, no trailing
   * slash, so that a listed URL and the same one in a request compare equal. Empty when
   * {@code text} is not such a URL.
   */
  public static Optional<URI> url(String text) {
    try {
      URI uri = new URI(text.strip()).normalize();
      String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
      if (!(scheme.equals("http") || scheme.equals("https")) || uri.getHost() == null) {
        return Optional.empty();
      }
      String path = uri.getRawPath() == null || uri.getRawPath().equals("/") ? "" : uri.getRawPath();
      path = path.endsWith("/") ? path.substring(0, path.length() - 1) : path;
      String user = uri.getRawUserInfo() == null ? "" : uri.getRawUserInfo() + "@";
      String port = uri.getPort() < 0 ? "" : ":" + uri.getPort();
      return Optional.of(new URI(scheme + "://" + user + uri.getHost().toLowerCase(Locale.ROOT) + port + path
          + (uri.getRawQuery() == null ? "" : "?" + uri.getRawQuery())));
    } catch (URISyntaxException e) {
      return Optional.empty();
    }
  }

  /**
   * One configured server.
   *
   * @param callTimeout how long one tool call may take; the server's own or {@code talon.mcp}'s
   */
  public record Server(String id, Transport transport, Duration callTimeout) {}

  /** How Talon reaches a server. */
  public sealed interface Transport permits Stdio, Http {
    /** One line for listings: the command or the URL, never a secret. */
    String describe();
  }

  /**
   * A local process spoken to over its stdin and stdout. It inherits only the few variables a
   * program needs to run ({@code HOME}, {@code PATH}, …; see the README), plus {@code env}: not
   * Talon's own environment, which holds provider keys.
   *
   * @param cwd the working directory, or empty for Talon's own
   */
  public record Stdio(String command, List<String> args, Map<String, String> env, Optional<String> cwd)
      implements Transport {
    public Stdio {
      args = List.copyOf(args);
      env = Map.copyOf(env);
    }

    @Override
    public String describe() {
      return "stdio: " + String.join(" ", command, String.join(" ", args)).strip();
    }

    @Override
    public String toString() {
      return "Stdio[command=" + command + ", args=" + args + ", env=" + Secrets.maskedValues(env) + ", cwd="
          + cwd.orElse("") + "]";
    }
  }

  /** A server that speaks MCP's Streamable HTTP at {@code url}, sent {@code headers} with every request. */
  public record Http(URI url, Map<String, String> headers) implements Transport {
    public Http {
      headers = Map.copyOf(headers);
    }

    @Override
    public String describe() {
      return url.toString();
    }

    @Override
    public String toString() {
      return "Http[url=" + url + ", headers=" + Secrets.maskedValues(headers) + "]";
    }
  }
}
