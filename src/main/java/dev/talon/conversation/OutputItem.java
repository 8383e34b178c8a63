package dev.talon.conversation;

import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;

/** One item of a model's answer: text, or a function call the client is to execute. */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "type")
@JsonSubTypes({
    @JsonSubTypes.Type(value = OutputItem.Text.class, name = "text"),
    @JsonSubTypes.Type(value = OutputItem.FunctionCall.class, name = "function_call")})
public sealed interface OutputItem extends JsonSerializable {
  record Text(String text) implements OutputItem {}

  record FunctionCall(String callId, String name, String arguments) implements OutputItem {}
}
