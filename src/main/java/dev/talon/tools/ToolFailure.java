package dev.talon.tools;

/**
 * A tool call or listing that got no answer from its server. The message names the server and
 * says why, in words a model (or a person reading the log) can act on.
 */
public final class ToolFailure extends RuntimeException {
  public enum Reason {
    /** No server of that id is configured. */
    UNKNOWN_SERVER,
    /** The server is not running: it failed to start or died, and is being restarted. */
    DOWN,
    /** The server took longer than the call timeout. */
    TIMEOUT,
    /** The server refused the request (an MCP error: an unknown tool, arguments it rejects). */
    REJECTED,
    /** The node is stopping its servers. */
    STOPPED
  }

  private final Reason reason;
  private final String server;

  ToolFailure(Reason reason, String server, String message) {
    super(message, null, false, false);
    this.reason = reason;
    this.server = server;
  }

  public Reason reason() {
    return reason;
  }

  public String server() {
    return server;
  }
}
