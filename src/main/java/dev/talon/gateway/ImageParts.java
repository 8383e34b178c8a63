package dev.talon.gateway;

import dev.talon.upstream.ModelRequest;
import java.util.Locale;

/**
 * Reads an image content part: Responses {@code input_image} ({@code image_url} a string) or
 * Chat {@code image_url} ({@code image_url} an object with {@code url}, or a string). Talon passes
 * images on by reference and fetches nothing, so only URLs a model server can take are accepted.
 */
final class ImageParts {
  /**
   * The journal reads no string longer than this (Jackson's read limit in Pekko's serializer); a
   * longer data URL would be written but could never be replayed.
   */
  static final int MAX_URL_CHARS = 20_000_000;

  private ImageParts() {}

  static boolean isImage(String type) {
    return "input_image".equals(type) || "image_url".equals(type);
  }

  static ModelRequest.Image read(Fields part) {
    Fields image = part.get("image_url");
    Fields url = image.isObject() ? image.get("url") : image;
    Fields detail = image.isObject() ? image.get("detail") : part.get("detail");
    if (url.absent() && !part.get("file_id").absent()) {
      throw ApiError.badRequest(part.get("file_id").path(), "Talon has no file store: send the image as a data URL"
          + " (data:image/png;base64,...) or an https URL in image_url.");
    }
    String value = url.requiredText();
    String lower = value.toLowerCase(Locale.ROOT);
    boolean dataUrl = lower.startsWith("data:image/") && lower.substring(0, Math.max(0, value.indexOf(',')))
        .endsWith(";base64");
    if (!dataUrl && !lower.startsWith("https://") && !lower.startsWith("http://")) {
      throw ApiError.badRequest(url.path(), "Invalid image URL: expected a base64 data URL"
          + " (data:image/png;base64,...) or an http(s) URL.");
    }
    if (value.length() > MAX_URL_CHARS) {
      throw ApiError.badRequest(url.path(), "The image is too large: its URL has more than " + MAX_URL_CHARS
          + " characters.");
    }
    return new ModelRequest.Image(value, detail.text());
  }
}
