package dev.talon.conversation;

import com.fasterxml.jackson.databind.JsonNode;

/**
 * How a turn was shown to the client that started it, journaled with the turn so that reading it
 * back shows it the same way. The gateway decides it and reads it; the conversation only keeps it.
 *
 * @param createdAt the response's {@code created_at}, in epoch seconds
 * @param requestedModel the model as the client named it
 * @param reasoning the model's reasoning was sent to the client
 * @param echo the request's fields that its response repeats, in the client's wire form
 */
public record Presentation(long createdAt, String requestedModel, boolean reasoning, JsonNode echo)
    implements JsonSerializable {}
