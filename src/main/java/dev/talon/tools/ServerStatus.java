package dev.talon.tools;

import java.util.List;
import java.util.OptionalLong;

/**
 * Where one configured MCP server stands on this node.
 *
 * @param transport the command or URL, never a secret
 * @param detail for a ready server its name and version as it reports them; for a down one why,
 *     and when it is started again
 * @param pid the server's process, for a local one that is running
 * @param restarts how often it was started again after dying or failing to start
 * @param tools what it offers while ready
 */
public record ServerStatus(String id, String transport, State state, String detail, OptionalLong pid, int restarts,
    List<ToolSpec> tools) {

  public ServerStatus {
    tools = List.copyOf(tools);
  }

  public enum State {
    /** Not started yet: servers start on first use. */
    IDLE,
    STARTING,
    READY,
    /** Died or failed to start; started again after a backoff. */
    DOWN,
    STOPPED;

    @Override
    public String toString() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }
}
