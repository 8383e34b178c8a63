package dev.talon.tools;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;

/**
 * The MCP tools one turn may use: those of the configured servers, under its agent's
 * {@link ToolPolicy}, and those of the servers its request named, under the request's own
 * {@code allowed_tools} and {@code require_approval}. A turn knows every server by one name: a
 * configured server's id, or the label its request gave (never the same: see
 * {@link RequestedServer#check}).
 *
 * <p>Made by {@link McpServers#toolbox}; holds no connection of its own, so a turn that ends
 * simply drops it.
 */
public final class Toolbox {
  private final McpServers servers;
  private final ToolPolicy policy;
  private final Map<String, RequestedServer> requested = new LinkedHashMap<>();

  Toolbox(McpServers servers, ToolPolicy policy, List<RequestedServer> requested) {
    this.servers = servers;
    this.policy = policy;
    requested.forEach(server -> this.requested.put(server.label(), server));
  }

  /**
   * What the turn may call now: the configured servers' tools first, in the config's order, then
   * the requested servers', in the request's; the servers are started or connected to if need be.
   */
  public CompletionStage<McpServers.Catalog> catalog() {
    List<CompletableFuture<McpServers.Catalog>> parts = new ArrayList<>();
    parts.add(servers.catalog(policy).toCompletableFuture());
    requested.values().forEach(server -> parts.add(McpServers.Catalog.of(servers.tools(server),
        tools -> tools.stream().filter(tool -> server.allows(tool.name())).toList())));
    return McpServers.Catalog.gather(parts);
  }

  /** Whether a call of {@code tool} of {@code server} runs, waits for a person, or is refused, and why. */
  public ToolPolicy.Decision decide(String server, String tool) {
    RequestedServer named = requested.get(server);
    return named != null ? named.decide(tool) : policy.decide(server, tool);
  }

  /** The servers the turn may use a tool of: the configured ones its agent's policy names, then the requested ones. */
  public Set<String> servers() {
    Set<String> all = new LinkedHashSet<>(policy.servers());
    all.addAll(requested.keySet());
    return all;
  }

  /**
   * Calls {@code tool} of {@code server} with its arguments as a model writes them: a JSON object
   * as text, or an empty text for none; text that is not a JSON object fails the call as
   * {@link ToolFailure.Reason#REJECTED} without asking the server. Runs any tool it is asked to:
   * checking {@link #decide} first is the caller's part.
   */
  public CompletionStage<ToolResult> callWithJson(String server, String tool, String arguments) {
    RequestedServer named = requested.get(server);
    return McpServers.withArguments(server, tool, arguments,
        parsed -> named == null ? servers.call(server, tool, parsed) : servers.call(named, tool, parsed));
  }

  /** How long a call of {@code server}'s may take at most, from asking to answer. */
  public Duration deadline(String server) {
    return requested.containsKey(server) ? servers.requestedDeadline() : servers.deadline(server);
  }

  /** How long a call that needs a person's approval waits for it. */
  public Duration approvalTimeout() {
    return servers.approvalTimeout();
  }
}
