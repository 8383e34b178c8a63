package dev.talon.gateway;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.upstream.ModelRequest;
import java.util.ArrayList;
import java.util.List;

/**
 * Typed reads of a request's JSON: every wrong type is a 400 naming the field
 * ({@code input[2].content}), so a client sees what to fix.
 */
final class Fields {
  private final JsonNode node;
  private final String path;

  Fields(JsonNode node, String path) {
    this.node = node;
    this.path = path;
  }

  static Fields of(ObjectNode body) {
    return new Fields(body, "");
  }

  Fields get(String name) {
    return new Fields(node == null ? null : node.get(name), path.isEmpty() ? name : path + "." + name);
  }

  String path() {
    return path;
  }

  JsonNode node() {
    return node;
  }

  boolean absent() {
    return node == null || node.isNull();
  }

  ApiError wrong(String expected) {
    return ApiError.badRequest(path, "Invalid type for '" + path + "': expected " + expected + ".");
  }

  String text() {
    if (absent()) {
      return null;
    }
    if (!node.isTextual()) {
      throw wrong("a string");
    }
    return node.textValue();
  }

  String requiredText() {
    String text = text();
    if (text == null) {
      throw ApiError.badRequest(path, "Missing required parameter: '" + path + "'.");
    }
    return text;
  }

  boolean bool(boolean fallback) {
    if (absent()) {
      return fallback;
    }
    if (!node.isBoolean()) {
      throw wrong("a boolean");
    }
    return node.booleanValue();
  }

  Integer positiveInt() {
    if (absent()) {
      return null;
    }
    if (!node.canConvertToInt() || !node.isIntegralNumber() || node.intValue() < 1) {
      throw wrong("a positive integer");
    }
    return node.intValue();
  }

  Double number(double min, double max) {
    if (absent()) {
      return null;
    }
    if (!node.isNumber() || node.doubleValue() < min || node.doubleValue() > max) {
      throw wrong("a number from " + min + " to " + max);
    }
    return node.doubleValue();
  }

  boolean isText() {
    return node != null && node.isTextual();
  }

  boolean isObject() {
    return node != null && node.isObject();
  }

  /** The elements of an array, or an empty list when absent. */
  List<Fields> elements() {
    if (absent()) {
      return List.of();
    }
    if (!node.isArray()) {
      throw wrong("an array");
    }
    List<Fields> out = new ArrayList<>();
    for (int i = 0; i < node.size(); i++) {
      out.add(new Fields(node.get(i), path + "[" + i + "]"));
    }
    return out;
  }

  /** An object, or an empty one when absent. */
  Fields object() {
    if (!absent() && !node.isObject()) {
      throw wrong("an object");
    }
    return this;
  }

  /**
   * Message content without images: a string, or an array of text parts ({@code input_text},
   * {@code output_text}, {@code text}) joined. Only user messages and tool results may carry images.
   */
  String content() {
    for (Fields part : isText() ? List.<Fields>of() : elements()) {
      Fields type = part.get("type");
      if (ImageParts.isImage(type.text())) {
        throw ApiError.badRequest(type.path(), "Unsupported content part type '" + type.text()
            + "' here: images are accepted in user messages and tool results only.");
      }
    }
    return ModelRequest.Part.text(parts());
  }

  /**
   * Content that may carry images: a string, or an array of text and image parts, in order.
   * Adjacent text parts are joined, so text-only content is one part. Files and audio are
   * refused rather than silently dropped.
   */
  List<ModelRequest.Part> parts() {
    if (isText() || absent()) {
      return List.of(new ModelRequest.Text(isText() ? node.textValue() : ""));
    }
    List<ModelRequest.Part> parts = new ArrayList<>();
    for (Fields part : elements()) {
      String type = part.get("type").text();
      int last = parts.size() - 1;
      if (ImageParts.isImage(type)) {
        parts.add(ImageParts.read(part));
      } else if (type == null || type.equals("input_text") || type.equals("output_text") || type.equals("text")) {
        String text = part.get("text").requiredText();
        if (last >= 0 && parts.get(last) instanceof ModelRequest.Text before) {
          parts.set(last, new ModelRequest.Text(before.text() + text));
        } else {
          parts.add(new ModelRequest.Text(text));
        }
      } else {
        throw ApiError.badRequest(part.get("type").path(), "Unsupported content part type '" + type
            + "': Talon passes text and image parts only.");
      }
    }
    return parts.isEmpty() ? List.of(new ModelRequest.Text("")) : parts;
  }
}
