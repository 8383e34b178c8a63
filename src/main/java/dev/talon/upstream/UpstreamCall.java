package dev.talon.upstream;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.config.Api;
import java.util.Map;

/** One HTTP request to a model server, ready to send: where, with which headers, what body. */
public record UpstreamCall(Api api, String url, Map<String, String> headers, ObjectNode body) {

  public byte[] bodyBytes() {
    try {
      return UpstreamJson.MAPPER.writeValueAsBytes(body);
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("a request body that Jackson built cannot be written", e);
    }
  }
}
