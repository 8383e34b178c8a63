package dev.talon.gateway;

import dev.talon.conversation.Presentation;
import java.util.HashSet;
import java.util.Set;

/**
 * Which of a turn's function calls Talon runs itself, as MCP tool calls. In a turn of an agent
 * that acts, every call of a function the client did not offer is one (the conversation's rule):
 * the model's raw call of it is not the client's to run, so it is not shown; the call shows as an
 * MCP call once it starts, or once it is refused.
 *
 * @param clientFunctions the names of the function tools the client's request offered
 */
record McpFunctions(boolean acts, Set<String> clientFunctions) {
  McpFunctions {
    clientFunctions = Set.copyOf(clientFunctions);
  }

  /** @param presentation the turn's, whose echoed request names the client's function tools */
  static McpFunctions of(boolean acts, Presentation presentation) {
    Set<String> names = new HashSet<>();
    presentation.echo().path("tools").forEach(tool -> names.add(tool.path("name").asText()));
    return new McpFunctions(acts, names);
  }

  boolean runByTalon(String function) {
    return acts && !clientFunctions.contains(function);
  }
}
