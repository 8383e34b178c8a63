package dev.talon.tools;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * A tool an MCP server offers, as a model is to be shown it.
 *
 * @param description what the server says the tool does (its title when it gives no description)
 * @param inputSchema the JSON Schema of the tool's arguments, as the server gave it
 */
public record ToolSpec(String server, String name, String description, JsonNode inputSchema) {

  /** {@code server/tool}: the name allow and deny entries use. */
  public String qualifiedName() {
    return server + "/" + name;
  }
}
