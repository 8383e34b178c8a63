package dev.talon.gateway;

import dev.talon.config.McpSettings;
import dev.talon.tools.RequestedServer;
import java.net.URI;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * OpenAI's remote MCP tools in a Responses request, {@code tools: [{ type: "mcp", server_label,
 * server_url, headers, authorization, allowed_tools, require_approval }]}, read as the servers the
 * turn may use. Only a URL the operator lists in {@code talon.mcp.allowedUrls} passes, so a
 * client cannot make the gateway reach any host it likes. Every refusal is a 400 naming the field.
 */
final class McpToolRequests {
  /** The {@code type} of these tools; the request's other tools are read as before. */
  static final String TYPE = "mcp";

  /** Name servers by other means than a URL, which OpenAI resolves and Talon cannot. */
  private static final List<String> UNSUPPORTED = List.of("connector_id", "tunnel_id");

  private McpToolRequests() {}

  /**
   * The servers the mcp tools of {@code tools} name, in order, checked against what this node
   * allows; an empty list when there are none.
   *
   * @param tools a Responses request's {@code tools}
   * @throws ApiError a 400 naming the field at fault, e.g. {@code tools[1].server_url}
   */
  static List<RequestedServer> read(Fields tools, McpSettings settings) {
    List<RequestedServer> servers = new ArrayList<>();
    List<String> paths = new ArrayList<>();
    for (Fields tool : tools.elements()) {
      if (TYPE.equals(tool.get("type").text())) {
        servers.add(server(tool));
        paths.add(tool.path());
      }
    }
    try {
      RequestedServer.check(servers, settings);
    } catch (RequestedServer.Refused e) {
      throw ApiError.badRequest(paths.get(e.index()) + "." + e.field(), e.getMessage());
    }
    return servers;
  }

  private static RequestedServer server(Fields tool) {
    for (String field : UNSUPPORTED) {
      if (!tool.get(field).absent()) {
        throw ApiError.badRequest(tool.get(field).path(), "Unsupported parameter: '" + field + "': Talon reaches"
            + " MCP servers by server_url only (OpenAI's connectors and tunnels are its own).");
      }
    }
    String label = tool.get("server_label").requiredText();
    Fields urlField = tool.get("server_url");
    String text = urlField.requiredText();
    URI url = McpSettings.url(text).orElseThrow(() -> ApiError.badRequest(urlField.path(), "Invalid server_url '"
        + text + "': expected an http:// or https:// URL with a host."));
    return new RequestedServer(label, url, headers(tool), allowedTools(tool.get("allowed_tools")),
        approval(tool.get("require_approval")));
  }

  /** {@code headers}, and OpenAI's {@code authorization} (an OAuth access token) as the bearer token it is. */
  private static Map<String, String> headers(Fields tool) {
    Fields headers = tool.get("headers").object();
    Map<String, String> out = new LinkedHashMap<>();
    if (!headers.absent()) {
      headers.node().fieldNames().forEachRemaining(name -> out.put(name, headers.get(name).requiredText()));
    }
    Fields authorization = tool.get("authorization");
    String token = authorization.text();
    if (token != null) {
      if (out.keySet().stream().anyMatch("Authorization"::equalsIgnoreCase)) {
        throw ApiError.badRequest(authorization.path(), "Set 'authorization' or an Authorization header in"
            + " 'headers', not both.");
      }
      out.put("Authorization", "Bearer " + token);
    }
    return out;
  }

  /** A list of names or a filter; null (every tool) when absent. */
  private static Set<String> allowedTools(Fields allowed) {
    if (allowed.absent() || allowed.isObject()) {
      return filter(allowed);
    }
    if (!allowed.node().isArray()) {
      throw allowed.wrong("an array of tool names or an object with tool_names");
    }
    return names(allowed);
  }

  /**
   * {@code "always"}, {@code "never"}, or filters of the tools that always and never wait; a tool
   * neither filter names waits, as it does when the field is absent (OpenAI's default).
   */
  private static RequestedServer.Approval approval(Fields approval) {
    if (approval.absent()) {
      return RequestedServer.Approval.ALWAYS;
    }
    if (approval.isText()) {
      return switch (approval.text()) {
        case "always" -> RequestedServer.Approval.ALWAYS;
        case "never" -> RequestedServer.Approval.NEVER;
        default -> throw ApiError.badRequest(approval.path(), "Invalid require_approval '" + approval.text()
            + "': expected always, never or an object with always and never.");
      };
    }
    if (!approval.isObject()) {
      throw approval.wrong("\"always\", \"never\" or an object with always and never");
    }
    Fields alwaysField = approval.get("always");
    Fields neverField = approval.get("never");
    Set<String> always = alwaysField.absent() ? Set.of() : filter(alwaysField);
    Set<String> never = neverField.absent() ? Set.of() : filter(neverField);
    if (always == null) {
      return RequestedServer.Approval.ALWAYS;
    }
    return never == null ? new RequestedServer.Approval(always, Set.of(), false)
        : new RequestedServer.Approval(always, never, true);
  }

  /** The names an OpenAI tool filter, {@code {tool_names}}, gives; null when it names none, which matches every tool. */
  private static Set<String> filter(Fields filter) {
    if (filter.absent()) {
      return null;
    }
    if (!filter.isObject()) {
      throw filter.wrong("an object with tool_names");
    }
    Fields readOnly = filter.get("read_only");
    if (!readOnly.absent()) {
      // Talon keeps no read-only hints of tools: ignoring the filter would let through what it was meant to keep out.
      throw ApiError.badRequest(readOnly.path(), "Unsupported parameter: 'read_only': name the tools in"
          + " tool_names.");
    }
    Fields names = filter.get("tool_names");
    return names.absent() ? null : names(names);
  }

  private static Set<String> names(Fields names) {
    Set<String> out = new LinkedHashSet<>();
    names.elements().forEach(name -> out.add(name.requiredText()));
    return out;
  }
}
