package dev.talon.config;

import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * An agent's MCP tool rules, in the shape of OpenClaw's per-agent tool policy
 * ({@code agents.defaults.tools}, {@code agents.list[].tools}): entries name {@code server/tool}
 * or {@code server/*}. Nothing is allowed unless an {@code allow} entry names it; a {@code deny}
 * entry wins over any allow; {@code requireApproval} marks allowed tools whose calls wait for a
 * person's yes.
 */
public record ToolRules(List<Entry> allow, List<Entry> deny, List<Entry> requireApproval) {
  /** No tools at all: the rules of an agent whose config names none. */
  public static final ToolRules NONE = new ToolRules(List.of(), List.of(), List.of());

  public ToolRules {
    allow = List.copyOf(allow);
    deny = List.copyOf(deny);
    requireApproval = List.copyOf(requireApproval);
  }

  /**
   * One entry: {@code server/tool}, or {@code server/*} for every tool of the server. The server
   * id is the part before the first {@code /}, so a tool whose own name has a slash still works.
   *
   * @param tool the tool's name, or {@value #ANY_TOOL}
   */
  public record Entry(String server, String tool) {
    public static final String ANY_TOOL = "*";
    /** Server ids as {@code talon.mcp.servers} allows them: they prefix tool names models see. */
    public static final Pattern SERVER_ID = Pattern.compile("[A-Za-z0-9_-]+");

    /** The entry {@code text} names, or empty when it is not of the form {@code server/tool} or {@code server/*}. */
    public static Optional<Entry> parse(String text) {
      int slash = text.indexOf('/');
      if (slash <= 0 || slash == text.length() - 1) {
        return Optional.empty();
      }
      String server = text.substring(0, slash);
      String tool = text.substring(slash + 1);
      boolean wildcardInName = !tool.equals(ANY_TOOL) && tool.contains(ANY_TOOL);
      if (!SERVER_ID.matcher(server).matches() || wildcardInName || tool.isBlank()) {
        return Optional.empty();
      }
      return Optional.of(new Entry(server, tool));
    }

    public boolean matches(String serverId, String toolName) {
      return server.equals(serverId) && (tool.equals(ANY_TOOL) || tool.equals(toolName));
    }

    @Override
    public String toString() {
      return server + "/" + tool;
    }
  }
}
