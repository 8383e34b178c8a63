package dev.talon.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.List;

/**
 * A model the fake lists, and how each server lists its models (protocols.md §4).
 *
 * @param loaded LM Studio's {@code state} in {@code /api/v0/models}
 */
public record ServedModel(String id, boolean loaded, int contextLength) {
  private static final long CREATED = 1_750_000_000L;

  public static ServedModel of(String id) {
    return new ServedModel(id, true, 32_768);
  }

  public ServedModel loaded(boolean loaded) {
    return new ServedModel(id, loaded, contextLength);
  }

  public ServedModel contextLength(int tokens) {
    return new ServedModel(id, loaded, tokens);
  }

  /** {@code GET /v1/models} as {@code server} answers it. */
  static JsonNode v1List(List<ServedModel> models, ServerKind server) {
    if (server == ServerKind.ANTHROPIC) {
      return anthropicList(models);
    }
    ObjectNode list = Json.object().put("object", "list");
    if (server == ServerKind.OLLAMA && models.isEmpty()) {
      return list.putNull("data"); // Ollama with nothing pulled
    }
    ArrayNode data = list.putArray("data");
    for (ServedModel model : models) {
      ObjectNode entry = data.addObject().put("id", model.id()).put("object", "model");
      switch (server) {
        case LM_STUDIO -> entry.put("owned_by", "organization_owner");
        case VLLM ->
            entry
                .put("created", CREATED)
                .put("owned_by", "vllm")
                .put("root", model.id())
                .putNull("parent")
                .put("max_model_len", model.contextLength());
        case LLAMA_CPP ->
            entry
                .put("created", CREATED)
                .put("owned_by", "llamacpp")
                .putObject("meta")
                .put("n_ctx", model.contextLength())
                .put("n_ctx_train", model.contextLength());
        case OLLAMA -> entry.put("created", CREATED).put("owned_by", "library");
        default -> entry.put("created", CREATED).put("owned_by", "system");
      }
    }
    return list;
  }

  /** LM Studio's native {@code GET /api/v0/models}, with loaded/not-loaded state. */
  static JsonNode lmStudioV0List(List<ServedModel> models) {
    ObjectNode list = Json.object().put("object", "list");
    ArrayNode data = list.putArray("data");
    for (ServedModel model : models) {
      data.addObject()
          .put("id", model.id())
          .put("object", "model")
          .put("type", "llm")
          .put("publisher", "fake")
          .put("arch", "llama")
          .put("compatibility_type", "gguf")
          .put("quantization", "Q4_K_M")
          .put("state", model.loaded() ? "loaded" : "not-loaded")
          .put("max_context_length", model.contextLength());
    }
    return list;
  }

  private static JsonNode anthropicList(List<ServedModel> models) {
    ObjectNode list = Json.object();
    ArrayNode data = list.putArray("data");
    for (ServedModel model : models) {
      data.addObject()
          .put("type", "model")
          .put("id", model.id())
          .put("display_name", model.id())
          .put("created_at", "2025-06-15T00:00:00Z");
    }
    list.put("has_more", false);
    list.put("first_id", models.isEmpty() ? null : models.get(0).id());
    list.put("last_id", models.isEmpty() ? null : models.get(models.size() - 1).id());
    return list;
  }
}
