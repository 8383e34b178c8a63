package dev.talon.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
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

  /**
   * This request, asked to go on with {@code partial}, an answer cut off mid-stream that the user
   * has already seen: it ends the conversation as the assistant's unfinished message (servers
   * that prefill a trailing assistant message continue it as is), and the instructions ask the
   * model to carry on seamlessly (for servers that answer it with a new message).
   */
  public ModelRequest continuing(String partial) {
    List<Item> items = new ArrayList<>(input);
    items.add(new Message(Role.ASSISTANT, partial));
    return new ModelRequest(instructions == null ? CONTINUE : instructions + "\n\n" + CONTINUE, items, tools,
        toolChoice, maxOutputTokens, temperature, reasoningEffort);
  }

  static final String CONTINUE = "Your reply was cut off. The last assistant message is the start of it, already"
      + " shown to the user. Continue it exactly where it stops, as if it had never been interrupted: do not repeat"
      + " any of it, do not comment on the interruption.";

  public enum Role {
    SYSTEM,
    DEVELOPER,
    USER,
    ASSISTANT
  }

  /** One entry of the conversation sent to the model. */
  public sealed interface Item {}

  /**
   * A message.
   *
   * @param content its text and images in the order given; a text-only message is one {@link Text}
   */
  public record Message(Role role, List<Part> content) implements Item {
    public Message {
      content = List.copyOf(content);
    }

    public Message(Role role, String text) {
      this(role, List.of(new Text(text)));
    }

    /** The text parts joined: what a client sent, without its images. */
    public String text() {
      return Part.text(content);
    }
  }

  public record FunctionCall(String callId, String name, String arguments) implements Item {}

  /** A tool's result: text, and images when the tool returned some (a screenshot, a PNG it read). */
  public record FunctionCallOutput(String callId, List<Part> content) implements Item {
    public FunctionCallOutput {
      content = List.copyOf(content);
    }

    public FunctionCallOutput(String callId, String output) {
      this(callId, List.of(new Text(output)));
    }

    /** The text parts joined. */
    public String output() {
      return Part.text(content);
    }
  }

  /** A piece of message or tool-result content. */
  public sealed interface Part {
    static String text(List<Part> parts) {
      StringBuilder text = new StringBuilder();
      parts.forEach(part -> text.append(part instanceof Text t ? t.text() : ""));
      return text.toString();
    }

    static boolean hasImages(List<Part> parts) {
      return parts.stream().anyMatch(Image.class::isInstance);
    }
  }

  public record Text(String text) implements Part {}

  /**
   * An image the client sent, by reference; Talon never fetches it.
   *
   * @param url a {@code data:image/…;base64,…} URL or an http(s) URL
   * @param detail OpenAI's {@code low|high|auto}, or null
   */
  public record Image(String url, String detail) implements Part {}

  /** A function tool: {@code parameters} is its JSON schema. */
  public record Tool(String name, String description, JsonNode parameters, Boolean strict) {}
}
