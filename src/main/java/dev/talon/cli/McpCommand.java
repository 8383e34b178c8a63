package dev.talon.cli;

import com.typesafe.config.ConfigFactory;
import dev.talon.config.TalonConfig;
import dev.talon.tools.McpServers;
import dev.talon.tools.ServerStatus;
import dev.talon.tools.ToolPolicy;
import dev.talon.tools.ToolSpec;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import picocli.CommandLine.Command;
import picocli.CommandLine.ParentCommand;

/** {@code talon mcp list}: the configured MCP servers, their tools, and which agents may call them. */
@Command(name = "mcp", description = "Inspect the MCP tool servers.",
    subcommands = McpCommand.ListServers.class)
final class McpCommand {
  @ParentCommand TalonCli root;

  @Command(name = "list",
      description = "Start each configured MCP server, list its tools and the agents that may call each, then stop it."
          + " Exit 1 when a server does not start.")
  static final class ListServers implements Callable<Integer> {
    private static final Pattern SENTENCE = Pattern.compile("([^\\n]*?[.!?])(\\s|$)");

    @ParentCommand McpCommand parent;

    @Override
    public Integer call() throws Exception {
      TalonConfig config = parent.root.loadConfig(null);
      PrintStream out = parent.root.out;
      if (config.talon().mcp().servers().isEmpty()) {
        out.println("no MCP servers configured (talon.mcp.servers)");
        return 0;
      }
      ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "talon-mcp",
          ConfigFactory.parseString("pekko.loglevel = WARNING").withFallback(ConfigFactory.load()));
      try {
        McpServers servers = McpServers.start(system, config.talon().mcp());
        // Started together, each within the start timeout; a failure shows in the server's status, read
        // as its start ends: by the time the slowest is up, one that failed may be starting again.
        List<CompletableFuture<ServerStatus>> started = servers.ids().stream()
            .map(id -> servers.tools(id).handle((tools, failure) -> id).thenCompose(servers::status)
                .toCompletableFuture())
            .toList();
        List<ServerStatus> statuses = started.stream().map(CompletableFuture::join).toList();
        Map<String, ToolPolicy> policies = new LinkedHashMap<>();
        config.catalog().agents().forEach(agent -> policies.put(agent.id(), ToolPolicy.of(agent)));
        statuses.forEach(status -> print(status, policies, out));
        servers.stop().toCompletableFuture().join();
        return statuses.stream().allMatch(s -> s.state() == ServerStatus.State.READY) ? 0 : 1;
      } finally {
        system.terminate();
      }
    }

    /** The server's line, then a line per tool: its name, the agents that may call it, what it does. */
    private static void print(ServerStatus status, Map<String, ToolPolicy> policies, PrintStream out) {
      out.println(status.id() + "  " + status.state() + "  " + status.transport()
          + (status.detail().isEmpty() ? "" : "  (" + status.detail() + ")"));
      if (status.state() != ServerStatus.State.READY) {
        List<String> allowed = policies.entrySet().stream()
            .filter(policy -> policy.getValue().servers().contains(status.id())).map(Map.Entry::getKey).toList();
        out.println("  agents allowed its tools: " + (allowed.isEmpty() ? "none" : String.join(", ", allowed)));
        return;
      }
      List<String> callers = status.tools().stream().map(tool -> callers(tool, policies)).toList();
      int nameWidth = status.tools().stream().mapToInt(t -> t.name().length()).max().orElse(0);
      int callersWidth = callers.stream().mapToInt(String::length).max().orElse(0);
      for (int i = 0; i < callers.size(); i++) {
        ToolSpec tool = status.tools().get(i);
        out.println(String.format("  %-" + nameWidth + "s  %-" + callersWidth + "s  %s", tool.name(), callers.get(i),
            firstSentence(tool.description())).stripTrailing());
      }
    }

    /** The agents that may call {@code tool}, those that must ask first marked; {@code -} for none. */
    private static String callers(ToolSpec tool, Map<String, ToolPolicy> policies) {
      List<String> callers = new ArrayList<>();
      policies.forEach((agent, policy) -> {
        switch (policy.decide(tool.server(), tool.name()).verdict()) {
          case ALLOW -> callers.add(agent);
          case ASK -> callers.add(agent + " (approval)");
          case DENY -> { }
        }
      });
      return callers.isEmpty() ? "-" : String.join(", ", callers);
    }

    /** Descriptions written for models run to paragraphs; a listing shows their first sentence. */
    private static String firstSentence(String text) {
      Matcher sentence = SENTENCE.matcher(text.strip());
      return sentence.lookingAt() ? sentence.group(1) : text.strip().lines().findFirst().orElse("");
    }
  }
}
