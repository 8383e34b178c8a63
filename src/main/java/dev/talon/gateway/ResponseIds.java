package dev.talon.gateway;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Response ids carry their conversation: {@code resp_<turn id as 32 hex digits><session key in
 * base64url>}. Any node can route {@code previous_response_id} or {@code GET /v1/responses/{id}}
 * to the right conversation without an index that could get lost or out of step.
 */
final class ResponseIds {
  private static final Pattern ID = Pattern.compile("resp_([0-9a-f]{32})([A-Za-z0-9_-]+)");

  record Ref(String sessionKey, String turnId) {}

  private ResponseIds() {}

  static String of(String sessionKey, String turnId) {
    return "resp_" + turnId.replace("-", "")
        + Base64.getUrlEncoder().withoutPadding().encodeToString(sessionKey.getBytes(StandardCharsets.UTF_8));
  }

  static Optional<Ref> parse(String id) {
    var m = ID.matcher(id == null ? "" : id);
    if (!m.matches()) {
      return Optional.empty();
    }
    String hex = m.group(1);
    String turnId = hex.substring(0, 8) + "-" + hex.substring(8, 12) + "-" + hex.substring(12, 16) + "-"
        + hex.substring(16, 20) + "-" + hex.substring(20);
    try {
      return Optional.of(new Ref(new String(Base64.getUrlDecoder().decode(m.group(2)), StandardCharsets.UTF_8),
          turnId));
    } catch (IllegalArgumentException e) {
      return Optional.empty();
    }
  }
}
