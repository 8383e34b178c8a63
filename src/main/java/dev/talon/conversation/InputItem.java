package dev.talon.conversation;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import dev.talon.upstream.ModelRequest;

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

  record Message(ModelRequest.Role role, String text) implements InputItem {
    @Override
    public ModelRequest.Item toModelItem() {
      return new ModelRequest.Message(role, text);
    }
  }

  record FunctionCall(String callId, String name, String arguments) implements InputItem {
    @Override
    public ModelRequest.Item toModelItem() {
      return new ModelRequest.FunctionCall(callId, name, arguments);
    }
  }

  record FunctionCallOutput(String callId, String output) implements InputItem {
    @Override
    public ModelRequest.Item toModelItem() {
      return new ModelRequest.FunctionCallOutput(callId, output);
    }
  }

  ModelRequest.Item toModelItem();

  static InputItem of(ModelRequest.Item item) {
    if (item instanceof ModelRequest.Message m) {
      return new Message(m.role(), m.text());
    } else if (item instanceof ModelRequest.FunctionCall c) {
      return new FunctionCall(c.callId(), c.name(), c.arguments());
    } else if (item instanceof ModelRequest.FunctionCallOutput o) {
      return new FunctionCallOutput(o.callId(), o.output());
    }
    throw new IllegalArgumentException("unknown input item " + item);
  }
}
