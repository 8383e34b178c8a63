package dev.talon.tools;

import dev.talon.config.Agent;
import dev.talon.config.ToolRules;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Which MCP tools one agent may call: nothing unless an allow entry names it, a deny entry wins
 * over any allow, and an allowed tool that a {@code requireApproval} entry names runs only once a
 * person says yes. Pure: the same rules always give the same decision.
 */
public final class ToolPolicy {
  public enum Verdict {
    ALLOW,
    /** Allowed, once a person approves the call. */
    ASK,
    DENY
  }

  /** @param reason why, naming the entry that decided; for the model when a call is refused */
  public record Decision(Verdict verdict, String reason) {}

  private final String agent;
  private final ToolRules rules;

  public ToolPolicy(String agent, ToolRules rules) {
    this.agent = agent;
    this.rules = rules;
  }

  public static ToolPolicy of(Agent agent) {
    return new ToolPolicy(agent.id(), agent.tools());
  }

  public Decision decide(String server, String tool) {
    String name = server + "/" + tool;
    Optional<ToolRules.Entry> denied = first(rules.deny(), server, tool);
    if (denied.isPresent()) {
      return new Decision(Verdict.DENY, "tool " + name + " is denied to agent " + agent + " (deny: " + denied.get()
          + ")");
    }
    Optional<ToolRules.Entry> allowed = first(rules.allow(), server, tool);
    if (allowed.isEmpty()) {
      return new Decision(Verdict.DENY, "tool " + name + " is not allowed for agent " + agent
          + " (no entry of its allow list names it)");
    }
    Optional<ToolRules.Entry> approval = first(rules.requireApproval(), server, tool);
    if (approval.isPresent()) {
      return new Decision(Verdict.ASK, "calls of " + name + " by agent " + agent + " wait for approval"
          + " (requireApproval: " + approval.get() + ")");
    }
    return new Decision(Verdict.ALLOW, "tool " + name + " is allowed for agent " + agent + " (allow: "
        + allowed.get() + ")");
  }

  /** The servers this agent may use a tool of, in the order its allow list names them. */
  public Set<String> servers() {
    Set<String> out = new LinkedHashSet<>();
    for (ToolRules.Entry entry : rules.allow()) {
      boolean wholeServerDenied = rules.deny().stream()
          .anyMatch(deny -> deny.server().equals(entry.server()) && deny.tool().equals(ToolRules.Entry.ANY_TOOL));
      if (!wholeServerDenied) {
        out.add(entry.server());
      }
    }
    return out;
  }

  /** Of {@code offered}, the tools this agent may call (with or without approval), in the same order. */
  public List<ToolSpec> visible(Collection<ToolSpec> offered) {
    return offered.stream().filter(t -> decide(t.server(), t.name()).verdict() != Verdict.DENY).toList();
  }

  private static Optional<ToolRules.Entry> first(List<ToolRules.Entry> entries, String server, String tool) {
    return entries.stream().filter(e -> e.matches(server, tool)).findFirst();
  }
}
