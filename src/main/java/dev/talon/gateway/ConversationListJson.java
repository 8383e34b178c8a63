package dev.talon.gateway;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.cluster.Conversations;
import java.time.Instant;

/**
 * {@code GET /v1/conversations} on the wire: a list page in OpenAI's shape ({@code object: "list"},
 * {@code data}, {@code has_more}) with the transcript's {@code next_after}. The position is a
 * cursor, {@code <last activity in epoch ms>:<session key>}: the list is ordered by activity, and
 * a cursor that holds both stays exact while conversations move to the top between two pages.
 */
final class ConversationListJson {
  private ConversationListJson() {}

  static ObjectNode of(Conversations.Listing listing) {
    ObjectNode out = Json.object().put("object", "list");
    ArrayNode data = out.putArray("data");
    listing.conversations().forEach(listed -> data.addObject().put("object", "conversation")
        .put("session_key", listed.sessionKey()).put("turn_count", listed.turnCount())
        .put("last_activity_at", listed.lastActivity().getEpochSecond()));
    return out.put("has_more", listing.more()).put("next_after", listing.next() == null ? null
        : listing.next().lastActivity().toEpochMilli() + ":" + listing.next().sessionKey());
  }

  /** The {@code after} parameter, a {@code next_after} of an earlier page; else a 400. */
  static Conversations.ListPosition after(String cursor) {
    int colon = cursor.indexOf(':');
    try {
      if (colon > 0 && colon < cursor.length() - 1) {
        return new Conversations.ListPosition(Instant.ofEpochMilli(Long.parseLong(cursor.substring(0, colon))),
            SessionKeys.checked(cursor.substring(colon + 1), "after", "the after cursor"));
      }
    } catch (NumberFormatException e) {
      // answered below, as a cursor without its parts is
    }
    throw ApiError.badRequest("after", "after must be the next_after of an earlier page of this list.");
  }
}
