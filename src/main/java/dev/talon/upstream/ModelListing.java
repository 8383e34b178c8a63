package dev.talon.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * The models a server says it has, from any of the listing shapes of protocols.md §4: OpenAI's
 * {@code /v1/models} (with vLLM's {@code max_model_len}, llama.cpp's {@code meta.n_ctx}, Ollama's
 * {@code "data": null}), and LM Studio's native {@code /api/v0/models} ({@code state}) and
 * {@code /api/v1/models} ({@code loaded_instances}).
 */
public final class ModelListing {
  private ModelListing() {}

  /**
   * @param contextLength tokens, or null when the server does not say
   * @param loaded null when the server does not say
   */
  public record Entry(String id, Integer contextLength, Boolean loaded) {}

  /** @throws IllegalArgumentException when the body is not a model list */
  public static List<Entry> parse(String body) {
    JsonNode root;
    try {
      root = UpstreamJson.MAPPER.readTree(body);
    } catch (IOException e) {
      throw new IllegalArgumentException("the model list is not JSON: " + abbreviate(body));
    }
    if (root == null || !root.isObject()) {
      throw new IllegalArgumentException("the model list is not a JSON object: " + abbreviate(body));
    }
    List<Entry> out = new ArrayList<>();
    if (root.has("data")) {
      for (JsonNode m : root.get("data")) { // Ollama sends "data": null when nothing is pulled
        out.add(new Entry(m.path("id").asText(), contextLength(m), loaded(m)));
      }
      return out;
    }
    if (root.path("models").isArray()) { // LM Studio /api/v1/models
      for (JsonNode m : root.get("models")) {
        JsonNode instances = m.path("loaded_instances");
        out.add(new Entry(m.path("key").asText(m.path("id").asText()), contextLength(m),
            instances.isArray() ? instances.size() > 0 : null));
      }
      return out;
    }
    throw new IllegalArgumentException("no \"data\" or \"models\" list in " + abbreviate(body));
  }

  private static Integer contextLength(JsonNode m) {
    for (JsonNode n : List.of(m.path("max_model_len"), m.path("meta").path("n_ctx"), m.path("max_context_length"),
        m.path("context_length"))) {
      if (n.isNumber()) {
        return n.asInt();
      }
    }
    return null;
  }

  private static Boolean loaded(JsonNode m) {
    if (m.path("state").isTextual()) { // LM Studio /api/v0/models
      return "loaded".equals(m.get("state").asText());
    }
    if (m.path("status").path("value").isTextual()) { // llama.cpp router mode
      return "loaded".equals(m.get("status").get("value").asText());
    }
    return null;
  }

  private static String abbreviate(String body) {
    String one = body == null ? "" : body.strip().replaceAll("\\s+", " ");
    return one.length() > 120 ? one.substring(0, 120) + "…" : one;
  }
}
