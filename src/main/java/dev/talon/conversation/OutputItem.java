package dev.talon.conversation;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import dev.talon.upstream.ModelRequest;
import java.util.List;

/**
 * One item of a model's answer: text, a function call the client is to execute, or an MCP tool
 * call that Talon ran itself.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "type")
@JsonSubTypes({
    @JsonSubTypes.Type(value = OutputItem.Text.class, name = "text"),
    @JsonSubTypes.Type(value = OutputItem.FunctionCall.class, name = "function_call"),
    @JsonSubTypes.Type(value = OutputItem.McpCall.class, name = "mcp_call")})
public sealed interface OutputItem extends JsonSerializable {
  record Text(String text) implements OutputItem {}

  record FunctionCall(String callId, String name, String arguments) implements OutputItem {}

  /**
   * A call of tool {@code tool} of MCP server {@code server}, which the model asked for by the
   * function name {@code function}.
   *
   * @param output what the model is shown: the tool's result (cut to the configured size, with a
   *     note), or why there is none; null while the call runs or waits
   * @param fullChars the length of the whole result before it was cut
   */
  record McpCall(String callId, String server, String tool, String function, String arguments, Status status,
      String output, int fullChars) implements OutputItem {

    public enum Status {
      /** Waiting for a person to approve it. */
      AWAITING_APPROVAL,
      /** Journaled as started; the tool runs. */
      RUNNING,
      /** The tool answered: {@code output} is its result. */
      COMPLETED,
      /** The tool answered with an error, or its server gave no answer: {@code output} says which. */
      FAILED,
      /** Never run: outside the agent's tools, turned down by a person, or over the turn's tool rounds. */
      REFUSED,
      /** Started, but the turn stopped before it answered (a crash, a cancellation); never run again. */
      INTERRUPTED
    }

    public McpCall with(Status newStatus, String newOutput, int newFullChars) {
      return new McpCall(callId, server, tool, function, arguments, newStatus, newOutput, newFullChars);
    }

    /** Whether the call has ended, one way or another. */
    public boolean ended() {
      return status != Status.AWAITING_APPROVAL && status != Status.RUNNING;
    }

    /** What the model is shown of the call: the call, then its output. */
    public List<ModelRequest.Item> modelItems() {
      return List.of(new ModelRequest.FunctionCall(callId, function, arguments),
          new ModelRequest.FunctionCallOutput(callId, output == null ? INTERRUPTED_OUTPUT : output));
    }

    /** What a model is told of a call that was cut off. */
    public static final String INTERRUPTED_OUTPUT = "The call was interrupted before it answered. It was not run"
        + " again: whether it took effect is unknown.";
  }
}
