package dev.talon.tools;

import dev.talon.config.McpSettings;
import dev.talon.config.ToolRules;
import java.net.URI;
import java.net.http.HttpRequest;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * An MCP server one request names, in OpenAI's {@code tools: [{ type: "mcp", … }]} form, for
 * that turn only. A plain record, so that it travels inside a turn's command as Jackson writes
 * it; its headers may hold the client's credentials, so it belongs in no journaled event.
 *
 * @param label names the server's tools in this turn, as a configured server's id does
 *     ({@code server_label})
 * @param url the server's Streamable HTTP endpoint, as {@link McpSettings#url} spells it
 * @param headers sent with every request to the server
 * @param allowedTools the only tools of the server the turn may see and call; null for all
 *     ({@code allowed_tools})
 * @param approval which of its calls wait for a person ({@code require_approval})
 */
public record RequestedServer(String label, URI url, Map<String, String> headers, Set<String> allowedTools,
    Approval approval) {

  public RequestedServer {
    headers = headers == null ? Map.of() : Map.copyOf(headers);
    allowedTools = allowedTools == null ? null : Set.copyOf(allowedTools);
    approval = approval == null ? Approval.ALWAYS : approval;
  }

  /**
   * OpenAI's {@code require_approval}: a call waits for a person when {@code always} names its
   * tool, runs at once when {@code never} does, and otherwise as {@code otherwise} says. A tool
   * both name waits: a client's contradiction is settled on the careful side.
   *
   * @param otherwise whether the calls of a tool neither names wait: false only for
   *     {@code "never"}, since OpenAI asks by default
   */
  public record Approval(Set<String> always, Set<String> never, boolean otherwise) {
    /** {@code "always"}, and what an absent {@code require_approval} means. */
    public static final Approval ALWAYS = new Approval(Set.of(), Set.of(), true);
    public static final Approval NEVER = new Approval(Set.of(), Set.of(), false);

    public Approval {
      always = always == null ? Set.of() : Set.copyOf(always);
      never = never == null ? Set.of() : Set.copyOf(never);
    }

    public boolean asks(String tool) {
      return always.contains(tool) || otherwise && !never.contains(tool);
    }
  }

  /** Whether the turn may see and call {@code tool} of this server. */
  public boolean allows(String tool) {
    return allowedTools == null || allowedTools.contains(tool);
  }

  /** What the request says of a call of {@code tool}: its own allowed tools and approvals are the rules. */
  ToolPolicy.Decision decide(String tool) {
    String name = label + "/" + tool;
    if (!allows(tool)) {
      return new ToolPolicy.Decision(ToolPolicy.Verdict.DENY, "tool " + name + " is not among the allowed_tools"
          + " the request gave for server " + label);
    }
    if (approval.asks(tool)) {
      return new ToolPolicy.Decision(ToolPolicy.Verdict.ASK, "calls of " + name + " wait for approval (the"
          + " request's require_approval)");
    }
    return new ToolPolicy.Decision(ToolPolicy.Verdict.ALLOW, "tool " + name + " runs without approval (the"
        + " request's require_approval)");
  }

  /**
   * Refuses what a node must not do for a request: reach a URL its operator did not list, send a
   * header Java's HTTP client cannot, or give a label that would mix one server's tools with
   * another's (labels name tools as server ids do).
   *
   * @throws Refused naming the first server at fault and its field
   */
  public static void check(List<RequestedServer> requested, McpSettings settings) {
    Set<String> labels = new HashSet<>();
    for (int i = 0; i < requested.size(); i++) {
      RequestedServer server = requested.get(i);
      String label = server.label();
      if (label == null || !ToolRules.Entry.SERVER_ID.matcher(label).matches()) {
        throw new Refused(i, "server_label", "Invalid server_label '" + label + "': use only letters, digits, _"
            + " and - (it prefixes the names of the server's tools).");
      }
      if (settings.ids().contains(label)) {
        throw new Refused(i, "server_label", "Invalid server_label '" + label + "': a server configured on this"
            + " gateway has that id; choose another label.");
      }
      if (!labels.add(label)) {
        throw new Refused(i, "server_label", "Invalid server_label '" + label + "': another mcp tool of the"
            + " request has that label.");
      }
      if (server.url() == null || !settings.allowsUrl(server.url().toString())) {
        throw new Refused(i, "server_url", "MCP server URL '" + server.url() + "' is not allowed: requests may"
            + " name only the servers this gateway's operator lists in talon.mcp.allowedUrls.");
      }
      for (Map.Entry<String, String> header : server.headers().entrySet()) {
        String name = header.getKey();
        try {
          HttpRequest.newBuilder().header(name, "");
        } catch (IllegalArgumentException e) {
          throw new Refused(i, "headers", "Header '" + name + "' cannot be sent: " + e.getMessage() + ".");
        }
        try {
          HttpRequest.newBuilder().header(name, header.getValue());
        } catch (IllegalArgumentException e) {
          // Java's message quotes the value, which may be a credential.
          throw new Refused(i, "headers", "The value of header '" + name + "' cannot be sent: it holds characters"
              + " a header value may not.");
        }
      }
    }
  }

  /**
   * A requested server a node will not use.
   *
   * @see #index()
   * @see #field()
   */
  public static final class Refused extends IllegalArgumentException {
    private final int index;
    private final String field;

    Refused(int index, String field, String message) {
      super(message, null);
      this.index = index;
      this.field = field;
    }

    /** Which of the requested servers, counted from 0 in the order given. */
    public int index() {
      return index;
    }

    /** The field of OpenAI's mcp tool at fault: {@code server_label}, {@code server_url} or {@code headers}. */
    public String field() {
      return field;
    }
  }

  /** Header values may be credentials: only their names print. */
  @Override
  public String toString() {
    return "RequestedServer[label=" + label + ", url=" + url + ", headers=" + new TreeSet<>(headers.keySet())
        + ", allowedTools=" + allowedTools + ", approval=" + approval + "]";
  }
}
