package dev.talon.conversation;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import dev.talon.upstream.ModelRequest;
import java.util.List;

/**
 * One item of what the client sent in a turn, as the journal keeps it. It mirrors
 * {@link ModelRequest.Item} with explicit JSON type names, so journaled turns stay readable
 * whatever happens to the upstream records.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "type")
@JsonSubTypes({
    @JsonSubTypes.Type(value = InputItem.Message.class, name = "message"),
    @JsonSubTypes.Type(value = InputItem.FunctionCall.class, name = "function_call"),
    @JsonSubTypes.Type(value = InputItem.FunctionCallOutput.class, name = "function_call_output")})
public sealed interface InputItem extends JsonSerializable {

  /**
   * @param text the message's text; null when {@code content} holds it
   * @param content set only when the message carries images (absent in older journals)
   */
  record Message(ModelRequest.Role role, @JsonInclude(JsonInclude.Include.NON_NULL) String text,
      @JsonInclude(JsonInclude.Include.NON_NULL) List<InputPart> content) implements InputItem {
    public Message(ModelRequest.Role role, String text) {
      this(role, text, null);
    }

    @Override
    public ModelRequest.Item toModelItem() {
      return new ModelRequest.Message(role, InputPart.toModel(text, content));
    }
  }

  record FunctionCall(String callId, String name, String arguments) implements InputItem {
    @Override
    public ModelRequest.Item toModelItem() {
      return new ModelRequest.FunctionCall(callId, name, arguments);
    }
  }

  /** Like {@link Message}: {@code content} only when the tool returned images. */
  record FunctionCallOutput(String callId, @JsonInclude(JsonInclude.Include.NON_NULL) String output,
      @JsonInclude(JsonInclude.Include.NON_NULL) List<InputPart> content) implements InputItem {
    public FunctionCallOutput(String callId, String output) {
      this(callId, output, null);
    }

    @Override
    public ModelRequest.Item toModelItem() {
      return new ModelRequest.FunctionCallOutput(callId, InputPart.toModel(output, content));
    }
  }

  ModelRequest.Item toModelItem();

  static InputItem of(ModelRequest.Item item) {
    if (item instanceof ModelRequest.Message m) {
      List<InputPart> content = InputPart.withImages(m.content());
      return new Message(m.role(), content == null ? m.text() : null, content);
    } else if (item instanceof ModelRequest.FunctionCall c) {
      return new FunctionCall(c.callId(), c.name(), c.arguments());
    } else if (item instanceof ModelRequest.FunctionCallOutput o) {
      List<InputPart> content = InputPart.withImages(o.content());
      return new FunctionCallOutput(o.callId(), content == null ? o.output() : null, content);
    }
    throw new IllegalArgumentException("unknown input item " + item);
  }
}
