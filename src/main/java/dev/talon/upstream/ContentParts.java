package dev.talon.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import dev.talon.upstream.ModelRequest.Image;
import dev.talon.upstream.ModelRequest.Part;
import dev.talon.upstream.ModelRequest.Text;
import java.util.List;

/**
 * Message and tool-result content in each protocol's parts. Content without images keeps the
 * plain shape each protocol had before images, so text-only servers see no change.
 */
final class ContentParts {
  private ContentParts() {}

  /** Responses message parts: {@code textType} is {@code input_text}, or {@code output_text} for the assistant. */
  static ArrayNode responses(List<Part> parts, String textType) {
    ArrayNode out = UpstreamJson.MAPPER.createArrayNode();
    for (Part part : parts) {
      if (part instanceof Image image) {
        ObjectNode node = out.addObject().put("type", "input_image").put("image_url", image.url());
        if (image.detail() != null) {
          node.put("detail", image.detail());
        }
      } else {
        out.addObject().put("type", textType).put("text", ((Text) part).text());
      }
    }
    return out;
  }

  /** A Responses {@code function_call_output}'s {@code output}: a string, or parts when it has images. */
  static JsonNode responsesOutput(List<Part> parts) {
    return Part.hasImages(parts) ? responses(parts, "input_text") : TextNode.valueOf(Part.text(parts));
  }

  /** Chat {@code content}: a string, or {@code text} and {@code image_url} parts when it has images. */
  static JsonNode chat(List<Part> parts) {
    if (!Part.hasImages(parts)) {
      return TextNode.valueOf(Part.text(parts));
    }
    ArrayNode out = UpstreamJson.MAPPER.createArrayNode();
    for (Part part : parts) {
      if (part instanceof Image image) {
        ObjectNode url = out.addObject().put("type", "image_url").putObject("image_url").put("url", image.url());
        if (image.detail() != null) {
          url.put("detail", image.detail());
        }
      } else {
        out.addObject().put("type", "text").put("text", ((Text) part).text());
      }
    }
    return out;
  }

  /**
   * Chat parts that show a tool result's images to the model: a Chat {@code tool} message holds
   * text only, so they go in the user message that follows the tool results.
   */
  static ArrayNode chatToolImages(ModelRequest.FunctionCallOutput output) {
    ArrayNode out = UpstreamJson.MAPPER.createArrayNode();
    out.addObject().put("type", "text").put("text", "Images from the result of tool call " + output.callId() + ":");
    return out.addAll((ArrayNode) chat(output.content().stream().filter(Image.class::isInstance).toList()));
  }

  /** Anthropic content blocks: {@code text} and {@code image}. */
  static ArrayNode anthropic(List<Part> parts) {
    ArrayNode out = UpstreamJson.MAPPER.createArrayNode();
    for (Part part : parts) {
      if (part instanceof Image image) {
        out.addObject().put("type", "image").set("source", anthropicSource(image.url()));
      } else {
        out.addObject().put("type", "text").put("text", ((Text) part).text());
      }
    }
    return out;
  }

  /** An Anthropic {@code tool_result}'s {@code content}: a string, or blocks when it has images. */
  static JsonNode anthropicResult(List<Part> parts) {
    return Part.hasImages(parts) ? anthropic(parts) : TextNode.valueOf(Part.text(parts));
  }

  /** Anthropic takes a data URL's bytes apart: {@code data:image/png;base64,AAAA} -> media type and data. */
  private static ObjectNode anthropicSource(String url) {
    ObjectNode source = UpstreamJson.MAPPER.createObjectNode();
    int comma = url.indexOf(',');
    if (url.startsWith("data:") && comma > 0 && url.substring(0, comma).endsWith(";base64")) {
      return source.put("type", "base64").put("media_type", url.substring("data:".length(), comma - ";base64".length()))
          .put("data", url.substring(comma + 1));
    }
    return source.put("type", "url").put("url", url);
  }
}
