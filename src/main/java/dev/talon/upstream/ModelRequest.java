package dev.talon.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;

/**
 * A model call in neutral terms: the conversation layer builds this and never touches a wire
 * format. Each client maps it onto its protocol; per-model {@code params} are merged in there.
 *
 * @param instructions system prompt, or null
 * @param input the conversation so far, oldest first
 * @param tools function tools offered to the model
 * @param toolChoice {@code "auto"}, {@code "none"}, {@code "required"} or a function name; null
 *     means the server's default
 * @param maxOutputTokens null means the model's configured {@code maxTokens}
 * @param temperature null means the server's default
 * @param reasoningEffort {@code low|medium|high|…} or null
 */
public record ModelRequest(
    String instructions,
    List<Item> input,
    List<Tool> tools,
    String toolChoice,
    Integer maxOutputTokens,
    Double temperature,
    String reasoningEffort) {

  public ModelRequest {
    input = List.copyOf(input);
    tools = tools == null ? List.of() : List.copyOf(tools);
  }

  public static ModelRequest of(String instructions, List<Item> input) {
    return new ModelRequest(instructions, input, List.of(), null, null, null, null);
  }

  public enum Role {
    SYSTEM,
    DEVELOPER,
    USER,
    ASSISTANT
  }

  /** One entry of the conversation sent to the model. */
  public sealed interface Item {}

  public record Message(Role role, String text) implements Item {}

  public record FunctionCall(String callId, String name, String arguments) implements Item {}

  public record FunctionCallOutput(String callId, String output) implements Item {}

  /** A function tool: {@code parameters} is its JSON schema. */
  public record Tool(String name, String description, JsonNode parameters, Boolean strict) {}
}
