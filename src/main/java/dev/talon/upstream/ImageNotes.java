package dev.talon.upstream;

import dev.talon.config.Model;
import dev.talon.upstream.ModelRequest.FunctionCallOutput;
import dev.talon.upstream.ModelRequest.Image;
import dev.talon.upstream.ModelRequest.Item;
import dev.talon.upstream.ModelRequest.Message;
import dev.talon.upstream.ModelRequest.Part;
import dev.talon.upstream.ModelRequest.Text;
import java.util.List;
import java.util.stream.Collectors;

/**
 * A text-only model cannot be sent an image: its server would refuse the whole request. It gets
 * a short note in the image's place instead, so it still knows that an image was there. Decided
 * per call, because one turn may fail over from a model that sees images to one that does not.
 */
final class ImageNotes {
  static final String NOTE = "[image omitted: this model cannot see images]";

  private ImageNotes() {}

  /** The request as {@code model} may receive it. */
  static ModelRequest fitFor(Model model, ModelRequest request) {
    if (model.acceptsImages() || request.input().stream().noneMatch(ImageNotes::hasImages)) {
      return request;
    }
    List<Item> input = request.input().stream().map(item -> {
      if (item instanceof Message m) {
        return new Message(m.role(), noted(m.content()));
      }
      return item instanceof FunctionCallOutput o ? new FunctionCallOutput(o.callId(), noted(o.content())) : item;
    }).toList();
    return new ModelRequest(request.instructions(), input, request.tools(), request.toolChoice(),
        request.maxOutputTokens(), request.temperature(), request.reasoningEffort());
  }

  private static boolean hasImages(Item item) {
    return item instanceof Message m && Part.hasImages(m.content())
        || item instanceof FunctionCallOutput o && Part.hasImages(o.content());
  }

  /** Each image replaced by the note on a line of its own: one text part, as a text-only message has. */
  private static List<Part> noted(List<Part> parts) {
    return List.of(new Text(parts.stream().map(part -> part instanceof Text t ? t.text() : NOTE)
        .collect(Collectors.joining("\n"))));
  }
}
