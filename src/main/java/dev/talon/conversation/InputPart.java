package dev.talon.conversation;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonSubTypes;
import com.fasterxml.jackson.annotation.JsonTypeInfo;
import dev.talon.upstream.ModelRequest;
import java.util.List;

/**
 * One part of a journaled message or tool result that carries images. An image is kept as the
 * client sent it: a data URL whole (its bytes are in the journal), an http(s) URL as the URL.
 */
@JsonTypeInfo(use = JsonTypeInfo.Id.NAME, property = "type")
@JsonSubTypes({
    @JsonSubTypes.Type(value = InputPart.Text.class, name = "text"),
    @JsonSubTypes.Type(value = InputPart.Image.class, name = "image")})
public sealed interface InputPart {

  record Text(String text) implements InputPart {}

  record Image(String url, @JsonInclude(JsonInclude.Include.NON_NULL) String detail) implements InputPart {}

  /**
   * The parts to journal, or null when there are only text parts: such items are written as
   * before images existed, as one text field.
   */
  static List<InputPart> withImages(List<ModelRequest.Part> parts) {
    if (!ModelRequest.Part.hasImages(parts)) {
      return null;
    }
    return parts.stream().map(part -> part instanceof ModelRequest.Image i
        ? (InputPart) new Image(i.url(), i.detail()) : new Text(((ModelRequest.Text) part).text())).toList();
  }

  /** The model's parts: {@code content} when it was journaled, else the single {@code text}. */
  static List<ModelRequest.Part> toModel(String text, List<InputPart> content) {
    if (content == null) {
      return List.of(new ModelRequest.Text(text));
    }
    return content.stream().map(part -> part instanceof Image i
        ? (ModelRequest.Part) new ModelRequest.Image(i.url(), i.detail())
        : new ModelRequest.Text(((Text) part).text())).toList();
  }
}
