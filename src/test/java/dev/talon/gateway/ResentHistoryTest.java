package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.testing.Request;
import dev.talon.testing.Script;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A stateless client (OpenClaw) that resends its whole history every turn, system prompt first,
 * under a session key: the model sees each item once, and the journal keeps each input once.
 */
class ResentHistoryTest extends OnANode {
  static final String SYSTEM = "You are OpenClaw, a personal assistant.";

  /** Every item of a Responses {@code input} or a chat {@code messages} list, as "role: text", "call id", "output id". */
  static List<String> items(JsonNode list) {
    List<String> out = new ArrayList<>();
    for (JsonNode item : list) {
      switch (item.path("type").asText(item.path("role").asText())) {
        case "function_call" -> out.add("call " + item.path("call_id").asText());
        case "function_call_output" -> out.add("output " + item.path("call_id").asText());
        case "tool" -> out.add("output " + item.path("tool_call_id").asText());
        default -> {
          JsonNode content = item.path("content");
          String text = content.isArray() ? content.path(0).path("text").asText() : content.asText("");
          if (!text.isEmpty()) {
            out.add(item.path("role").asText() + ": " + text);
          }
          item.path("tool_calls").forEach(call -> out.add("call " + call.path("id").asText()));
        }
      }
    }
    return out;
  }

  JsonNode ok(HttpResponse<String> response) throws Exception {
    assertEquals(200, response.statusCode(), response.body());
    return TalonApi.json(response);
  }

  Request lastUpstream() {
    return api.fake.requests().get(api.fake.requests().size() - 1);
  }

  /** Sends the history as {@code field} and checks that the model saw exactly that: each item once. */
  JsonNode turn(String path, String key, String model, String field, ArrayNode history) throws Exception {
    ObjectNode body = TalonApi.JSON.createObjectNode().put("model", model);
    body.set(field, history);
    JsonNode answer = ok(api.post(path, body.toString(), TurnRequest.SESSION_HEADER, key));
    Request upstream = lastUpstream();
    JsonNode seen = upstream.body().has("input") ? upstream.body().path("input") : upstream.body().path("messages");
    assertEquals(items(history), items(seen));
    assertEquals(1, upstream.rawBody().split(SYSTEM, -1).length - 1, "the system prompt once");
    return answer;
  }

  /** The client keeps what it received, function arguments parsed and written again in its own spacing. */
  static JsonNode asResent(JsonNode received) throws Exception {
    ObjectNode item = received.deepCopy();
    if (item.has("arguments")) {
      item.put("arguments", TalonApi.JSON.readTree(item.path("arguments").asText()).toString());
    }
    item.withArray("tool_calls").forEach(call -> ((ObjectNode) call.path("function")).put("arguments",
        call.path("function").path("arguments").asText().replace(" ", "")));
    if (item.path("tool_calls").isEmpty()) {
      item.remove("tool_calls");
    }
    return item;
  }

  List<Integer> journaledInputs(String key) throws Exception {
    List<Integer> sizes = new ArrayList<>();
    ok(api.get("/v1/conversations/" + key)).path("turns").forEach(turn -> sizes.add(turn.path("input").size()));
    return sizes;
  }

  static ObjectNode message(String role, String text) {
    return TalonApi.JSON.createObjectNode().put("role", role).put("content", text);
  }

  @Test
  void aResponsesClientResendingItsWholeHistorySendsEachItemOnce() throws Exception {
    api.fake.enqueue(Script.reply("Hi Ada."), Script.reply("Let me look.").toolCall("weather", "{\"city\": \"Oslo\"}"),
        Script.reply("Cold: -3."));
    ArrayNode history = TalonApi.JSON.createArrayNode().add(message("developer", SYSTEM)).add(message("user", "I am Ada."));
    turn("/v1/responses", "resent-responses", "openclaw", "input", history)
        .path("output").forEach(item -> history.add(item));
    history.add(message("user", "Weather in Oslo?"));
    JsonNode second = turn("/v1/responses", "resent-responses", "openclaw", "input", history);
    for (JsonNode item : second.path("output")) {
      history.add(asResent(item));
    }
    String callId = second.path("output").path(1).path("call_id").asText();
    history.addObject().put("type", "function_call_output").put("call_id", callId).put("output", "-3 C");
    turn("/v1/responses", "resent-responses", "openclaw", "input", history);

    assertEquals(List.of(2, 1, 1), journaledInputs("resent-responses"));
  }

  @Test
  void aChatClientResendingItsWholeHistorySendsEachItemOnceAndAnotherHistoryIsAppended() throws Exception {
    api.fake.enqueue(Script.reply("Hi Ada."), Script.reply("Let me look.").toolCall("weather", "{\"city\": \"Oslo\"}"),
        Script.reply("Cold: -3."), Script.reply("Hi Bob."));
    ArrayNode history = TalonApi.JSON.createArrayNode().add(message("system", SYSTEM)).add(message("user", "I am Ada."));
    history.add(asResent(turn("/v1/chat/completions", "resent-chat", "backup/b", "messages", history)
        .path("choices").path(0).path("message")));
    history.add(message("user", "Weather in Oslo?"));
    JsonNode call = asResent(turn("/v1/chat/completions", "resent-chat", "backup/b", "messages", history)
        .path("choices").path(0).path("message"));
    history.add(call);
    history.add(message("tool", "-3 C").put("tool_call_id", call.path("tool_calls").path(0).path("id").asText()));
    history.add(asResent(turn("/v1/chat/completions", "resent-chat", "backup/b", "messages", history)
        .path("choices").path(0).path("message")));
    assertEquals(List.of(1, 1, 1), journaledInputs("resent-chat"));

    // A history that is not this conversation's (its first message edited) is all new input.
    ArrayNode other = history.deepCopy();
    other.set(1, message("user", "I am Bob."));
    ok(api.post("/v1/chat/completions", TalonApi.JSON.createObjectNode().put("model", "backup/b")
        .<ObjectNode>set("messages", other).toString(), TurnRequest.SESSION_HEADER, "resent-chat"));
    List<String> appended = items(other).subList(1, items(other).size()); // the system prompt is instructions
    assertEquals(List.of(1, 1, 1, appended.size()), journaledInputs("resent-chat"));
    List<String> expected = new ArrayList<>(items(history));
    expected.addAll(appended);
    assertEquals(expected, items(lastUpstream().body().path("messages")));
  }
}
