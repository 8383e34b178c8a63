package dev.talon.conversation;

import dev.talon.config.TalonSettings;
import dev.talon.conversation.OutputItem.McpCall;
import dev.talon.tools.McpServers;
import dev.talon.tools.ToolFailure;
import dev.talon.tools.ToolPolicy;
import dev.talon.tools.ToolResult;
import dev.talon.tools.ToolSpec;
import dev.talon.tools.Toolbox;
import dev.talon.upstream.ModelRequest;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The MCP side of one running turn: which tools its model is shown, under which function names,
 * and what the turn has done so far. The conversation runs the loop (it journals each call and
 * runs it as a child); this decides: after each model call, which of the calls it asked for run,
 * wait for a person, or are refused; once a round of calls has ended, whether the model is called
 * again or the turn is answered.
 *
 * <p>Function names are what models accept ({@code [A-Za-z0-9_-]}, at most 64 characters):
 * {@code server__tool}, with anything else in the tool's name replaced, and a short hash where
 * that would clash or be too long. The same tools always get the same names, so earlier turns'
 * calls still read right.
 */
final class ToolLoop {
  private static final Pattern NOT_ALLOWED = Pattern.compile("[^A-Za-z0-9_-]");
  private static final int MAX_NAME = 64;

  /** What happens after a model call. */
  sealed interface Next {}

  /** The turn is answered: nothing is left to run. */
  record Answer(TurnResult result) implements Next {}

  /**
   * A round of calls: {@code run} are to be journaled and run, {@code ask} wait for a person,
   * {@code refused} have ended already (the model is told why).
   */
  record Round(List<McpCall> run, List<McpCall> ask, List<McpCall> refused) implements Next {}

  private final TurnPlan plan;
  private final ModelRequest turn;
  private final TalonSettings.MidStream midStream;
  private final Toolbox toolbox;
  private final int maxRounds;
  private final Set<String> clientFunctions;
  /** Until the servers have listed them: none, and only the client's own functions are shown. */
  private Map<String, ToolSpec> byFunction = Map.of();
  /** The servers that could not list their tools, and why. */
  private List<ToolFailure> unavailable = List.of();
  private List<ModelRequest.Tool> tools;
  /** Everything the turn's model calls wrote so far, calls included, in order. */
  private final List<OutputItem> output = new ArrayList<>();
  /** What the next model call is sent after the turn's input: the earlier calls' output and the tools' results. */
  private final List<ModelRequest.Item> followUp = new ArrayList<>();
  private final List<Attempt> attempts = new ArrayList<>();
  private final List<TurnResult.Part> parts = new ArrayList<>();
  private final StringBuilder reasoning = new StringBuilder();
  private TokenUsage usage = TokenUsage.NONE;
  private double costUsd;
  private int textLength;
  private int rounds;
  /** The calls of the round under way, by call id, in the order the model made them. */
  private final Map<String, McpCall> round = new LinkedHashMap<>();
  /** The client's own function calls of the round: the turn ends with them, for the client to run. */
  private final List<OutputItem.FunctionCall> clientCalls = new ArrayList<>();
  /** The turn reached its rounds: its last call is told to answer with what it has. */
  private boolean lastCall;
  /** That last call has answered: whatever it asked for is refused and the turn ends. */
  private boolean lastAnswered;

  /**
   * @param turn the turn's input and options, including the client's own function tools
   * @param midStream what becomes of text streamed before a model fails, or null for the node's setting
   */
  ToolLoop(TurnPlan plan, ModelRequest turn, TalonSettings.MidStream midStream, Toolbox toolbox) {
    this.plan = plan;
    this.turn = turn;
    this.midStream = midStream;
    this.toolbox = toolbox;
    this.maxRounds = plan.agent().maxToolRounds();
    this.clientFunctions = turn.tools().stream().map(ModelRequest.Tool::name).collect(Collectors.toUnmodifiableSet());
    this.tools = turn.tools();
  }

  /** The tools the agent may call now, as its servers listed them: from here on the model is shown them. */
  void listed(McpServers.Catalog catalog) {
    unavailable = catalog.unavailable();
    byFunction = functionNames(catalog.tools(), clientFunctions);
    List<ModelRequest.Tool> shown = new ArrayList<>(turn.tools());
    byFunction.forEach((function, spec) -> shown.add(new ModelRequest.Tool(function, spec.description(),
        spec.inputSchema(), null)));
    tools = List.copyOf(shown);
  }

  TurnPlan plan() {
    return plan;
  }

  TalonSettings.MidStream midStream() {
    return midStream;
  }

  /** The names of the client's own function tools: calls of them are the client's to run. */
  Set<String> clientFunctions() {
    return clientFunctions;
  }

  /** What the turn may use: the agent's tools, and those of the servers its request named. */
  Toolbox toolbox() {
    return toolbox;
  }

  /** The request of the turn's next model call: its input, what the calls so far added, every tool. */
  ModelRequest request() {
    List<ModelRequest.Item> input = new ArrayList<>(turn.input());
    input.addAll(followUp);
    return new ModelRequest(turn.instructions(), input, tools, lastCall ? "none" : turn.toolChoice(),
        turn.maxOutputTokens(), turn.temperature(), turn.reasoningEffort());
  }

  /** Takes in a model call's answer and says what comes next. */
  Next answered(TurnResult call) {
    lastAnswered = lastCall;
    addCall(call);
    List<McpCall> run = new ArrayList<>();
    List<McpCall> ask = new ArrayList<>();
    List<McpCall> refused = new ArrayList<>();
    for (OutputItem item : call.output()) {
      if (item instanceof OutputItem.FunctionCall f && clientFunctions.contains(f.name())) {
        clientCalls.add(f);
        output.add(f);
      } else if (item instanceof OutputItem.FunctionCall f) {
        McpCall mcp = decide(f, run, ask, refused);
        round.put(mcp.callId(), mcp);
        output.add(mcp);
      } else {
        output.add(item);
        followUp.addAll(ConversationEntity.Turn.outputView(List.of(item)));
      }
    }
    if (round.isEmpty()) {
      return new Answer(result(call.finishReason()));
    }
    rounds++;
    return new Round(run, ask, refused);
  }

  /** What the model asked for, as a call of one of the agent's tools, with where it stands. */
  private McpCall decide(OutputItem.FunctionCall f, List<McpCall> run, List<McpCall> ask, List<McpCall> refused) {
    ToolSpec spec = byFunction.get(f.name());
    String server = spec == null ? serverOf(f.name()) : spec.server();
    String tool = spec == null ? toolOf(f.name()) : spec.name();
    McpCall call = new McpCall(f.callId(), server, tool, f.name(), f.arguments(), McpCall.Status.RUNNING, null, 0);
    if (spec == null) {
      // Not shown to the model: whatever it names is refused, and said why when the name is an MCP tool's.
      ToolPolicy.Decision decision = toolbox.decide(server, tool);
      String why = decision.verdict() == ToolPolicy.Verdict.DENY ? decision.reason()
          : unavailable.stream().filter(down -> down.server().equals(server)).map(Throwable::getMessage).findFirst()
              .orElse("no tool named " + f.name() + " is offered in this turn");
      return add(refused, refuse(call, why));
    }
    if (lastCall || rounds >= maxRounds) {
      lastCall = true;
      return add(refused, refuse(call, "the turn has used all " + maxRounds + " of its tool rounds; answer with"
          + " what you have"));
    }
    if (toolbox.decide(server, tool).verdict() == ToolPolicy.Verdict.ASK) {
      return add(ask, call.with(McpCall.Status.AWAITING_APPROVAL, null, 0));
    }
    return add(run, call);
  }

  private static McpCall add(List<McpCall> to, McpCall call) {
    to.add(call);
    return call;
  }

  private static McpCall refuse(McpCall call, String why) {
    String output = "Refused, not run: " + why;
    return call.with(McpCall.Status.REFUSED, output, output.length());
  }

  /** A call that was waiting for a person: approved, it runs; turned down, the model is told. */
  McpCall decided(String callId, boolean approved, String reason) {
    McpCall waiting = round.get(callId);
    McpCall decided = approved ? waiting.with(McpCall.Status.RUNNING, null, 0)
        : refuse(waiting, "a person turned the call down" + (reason == null || reason.isBlank() ? "" : ": " + reason));
    update(decided);
    return decided;
  }

  /** The call's outcome, as the model is to be shown it. */
  McpCall finished(String callId, ToolResult result, ToolFailure failure) {
    McpCall call = round.get(callId);
    McpCall ended = failure != null
        ? call.with(McpCall.Status.FAILED, "The call failed: " + failure.getMessage(), 0)
        : call.with(result.error() ? McpCall.Status.FAILED : McpCall.Status.COMPLETED, result.text(),
            result.fullChars());
    update(ended);
    return ended;
  }

  /**
   * Ends the calls that have not ended, for a turn that stops under them: a running call as
   * interrupted, told with {@code output}; a waiting one as refused. Returns the calls that ran.
   */
  List<McpCall> stop(String output) {
    List<McpCall> interrupted = new ArrayList<>();
    for (McpCall call : List.copyOf(round.values())) {
      if (call.status() == McpCall.Status.RUNNING) {
        McpCall ended = call.with(McpCall.Status.INTERRUPTED, output, output.length());
        update(ended);
        interrupted.add(ended);
      } else if (!call.ended()) {
        update(refuse(call, "the turn ended before anyone approved the call"));
      }
    }
    return interrupted;
  }

  void update(McpCall call) {
    round.put(call.callId(), call);
    for (int i = output.size() - 1; i >= 0; i--) {
      if (output.get(i) instanceof McpCall c && c.callId().equals(call.callId())) {
        output.set(i, call);
        return;
      }
    }
  }

  /** The calls of the round waiting for a person. */
  List<McpCall> awaitingApproval() {
    return round.values().stream().filter(c -> c.status() == McpCall.Status.AWAITING_APPROVAL).toList();
  }

  boolean roundEnded() {
    return round.values().stream().allMatch(McpCall::ended);
  }

  /**
   * Once the round's calls have all ended: the answer when the model also called the client's own
   * functions (the client runs those, and the turn ends for it to), else null and the model is
   * called again with the results.
   */
  TurnResult afterRound() {
    round.values().forEach(call -> followUp.addAll(call.modelItems()));
    round.clear();
    if (!clientCalls.isEmpty()) {
      return result("tool_calls");
    }
    return lastAnswered ? result("stop") : null;
  }

  private void addCall(TurnResult call) {
    attempts.addAll(call.attempts());
    if (call.usage() != null) {
      usage = usage.plus(call.usage());
    }
    costUsd += call.costUsd();
    if (call.reasoning() != null) {
      reasoning.append(call.reasoning());
    }
    call.parts().forEach(p -> parts.add(new TurnResult.Part(p.model(), textLength + p.start(), textLength + p.end())));
    textLength += call.text().length();
  }

  /** The whole turn as one answer: every call's output, attempts and tokens, the last call's model. */
  private TurnResult result(String finishReason) {
    String model = attempts.isEmpty() ? null : attempts.get(attempts.size() - 1).model();
    return new TurnResult(output, reasoning.toString(), model, attempts, usage, costUsd, finishReason, parts);
  }

  // ---- function names -------------------------------------------------------------------------

  /** A model-safe function name for each tool, skipping names the client's own functions use. */
  static Map<String, ToolSpec> functionNames(List<ToolSpec> tools, Set<String> taken) {
    Map<String, ToolSpec> names = new LinkedHashMap<>();
    for (ToolSpec tool : tools) {
      String name = NOT_ALLOWED.matcher(tool.server() + "__" + tool.name()).replaceAll("_");
      if (name.length() > MAX_NAME || names.containsKey(name) || taken.contains(name)) {
        String hash = hash(tool.qualifiedName());
        name = name.substring(0, Math.min(name.length(), MAX_NAME - hash.length() - 1)) + "_" + hash;
      }
      names.put(name, tool);
    }
    return names;
  }

  /** The server part of a function name in the {@code server__tool} form, for a call of a tool never shown. */
  private static String serverOf(String function) {
    int split = function.indexOf("__");
    return split > 0 ? function.substring(0, split) : "";
  }

  private static String toolOf(String function) {
    int split = function.indexOf("__");
    return split > 0 ? function.substring(split + 2) : function;
  }

  private static String hash(String text) {
    return HexFormat.of().formatHex(ResentHistory.sha256().digest(text.getBytes(StandardCharsets.UTF_8)), 0, 4);
  }
}
