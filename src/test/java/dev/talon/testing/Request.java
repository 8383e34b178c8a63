package dev.talon.testing;

import com.fasterxml.jackson.databind.JsonNode;
import java.time.Instant;
import java.util.Iterator;
import java.util.Map;

/**
 * One request the fake received, recorded before any script ran, so faults are recorded too.
 *
 * @param headers lower-cased names; the first value of a repeated header
 * @param body the parsed JSON body; a missing node for GETs and bodies that are not JSON
 * @param rawBody the body exactly as received
 */
public record Request(
    String method,
    String path,
    Map<String, String> headers,
    JsonNode body,
    String rawBody,
    Instant time) {

  public Request {
    headers = Map.copyOf(headers);
  }

  /** The header's value, or null; the name is case-insensitive. */
  public String header(String name) {
    return headers.get(name.toLowerCase());
  }

  public boolean streaming() {
    return body.path("stream").asBoolean(false);
  }

  public String model() {
    return body.path("model").asText("fake-model");
  }

  /**
   * The prompt size the fake believes in: the characters of every text value in the body except
   * {@code model}, divided by 4 and rounded up. Crude on purpose: tests can predict it exactly.
   */
  public int estimatedTokens() {
    return (textChars(body, false) + 3) / 4;
  }

  private static int textChars(JsonNode node, boolean isModelField) {
    if (node.isTextual()) {
      return isModelField ? 0 : node.asText().length();
    }
    int chars = 0;
    if (node.isArray()) {
      for (JsonNode element : node) {
        chars += textChars(element, false);
      }
    } else if (node.isObject()) {
      for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> field = it.next();
        chars += textChars(field.getValue(), field.getKey().equals("model"));
      }
    }
    return chars;
  }
}
