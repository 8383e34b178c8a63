package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.testing.Script;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * A stored response reads back as it was sent: {@code GET /v1/responses/{id}} is the final
 * response of the original stream (same reasoning choice, same echoed request), and
 * {@code ?stream=true&starting_after=N} repeats the original stream's frames after {@code N}, byte
 * for byte.
 */
class ResponseReplayTest extends OnANode {
  /** Request options a response echoes. */
  static final String OPTIONS = ",\"instructions\":\"Be brief.\",\"temperature\":0.5,\"top_p\":0.9,"
      + "\"max_output_tokens\":200,\"metadata\":{\"case\":\"replay\"},\"model\":\"fast\"";

  @Test
  void aResponseThatDidNotAskForReasoningReplaysWithoutIt() throws Exception {
    api.fake.enqueue(Script.reply("The answer is forty two, as always.").reasoning("Let me think about it."));
    List<String> live = assertReplaysAsStreamed("{\"input\":\"Why?\",\"stream\":true" + OPTIONS + "}");
    JsonNode response = completed(live);
    assertEquals(List.of("message"), outputTypes(response));
    assertEquals("Be brief.", response.path("instructions").asText());
    assertEquals("fast", response.path("talon").path("requested_model").asText());
    assertEquals("replay", response.path("metadata").path("case").asText());
  }

  @Test
  void aResponseThatAskedForReasoningReplaysWithIt() throws Exception {
    api.fake.enqueue(Script.reply("The answer is forty two, as always.").reasoning("Let me think about it."));
    List<String> live = assertReplaysAsStreamed("{\"input\":\"Why?\",\"stream\":true,"
        + "\"reasoning\":{\"effort\":\"low\",\"summary\":\"auto\"}" + OPTIONS + "}");
    assertEquals(List.of("reasoning", "message"), outputTypes(completed(live)));
  }

  @Test
  void aToolCallReplaysWithItsTools() throws Exception {
    api.fake.enqueue(Script.reply("Let me look.").toolCall("lookup", "{\"q\":\"pekko\"}"));
    List<String> live = assertReplaysAsStreamed("{\"input\":\"Look it up\",\"stream\":true,\"tool_choice\":"
        + "{\"type\":\"function\",\"name\":\"lookup\"},\"tools\":[{\"type\":\"function\",\"name\":\"lookup\","
        + "\"description\":\"Finds things.\",\"parameters\":{\"type\":\"object\"},\"strict\":false}]" + OPTIONS + "}");
    JsonNode response = completed(live);
    assertEquals(List.of("message", "function_call"), outputTypes(response));
    assertEquals("Finds things.", response.path("tools").path(0).path("description").asText());
    assertEquals("lookup", response.path("tool_choice").path("name").asText());
  }

  @Test
  void aMidStreamFailoverReplaysAsItStreamed() throws Exception {
    api.fake.enqueue(Script.reply("a partial answer that breaks").dropAfter(2), Script.reply("and the rest."));
    List<String> live = assertReplaysAsStreamed("{\"input\":\"Go\",\"stream\":true" + OPTIONS + "}");
    assertTrue(completed(live).toString().contains("and the rest."), live.toString());
  }

  @Test
  void aRestartedMidStreamFailoverReplaysAsItStreamed() throws Exception {
    api.fake.enqueue(Script.reply("a partial answer that breaks").dropAfter(2),
        Script.reply("The whole answer, from the start."));
    List<String> live = assertReplaysAsStreamed("{\"input\":\"Go\",\"stream\":true" + OPTIONS + "}",
        TurnRequest.FAILOVER_HEADER, "restart");
    assertTrue(live.stream().anyMatch(frame -> frame.contains("\"status\":\"incomplete\"")),
        "the broken attempt's item ends incomplete: " + live);
  }

  /**
   * A turn read back after its conversation moved on (here: the next turn replaced it in memory) is
   * told from the journal; when each item streamed in one delta that is the same stream again.
   */
  @Test
  void aTurnToldFromTheJournalReplaysAsItStreamedWhenEachItemWasOneDelta() throws Exception {
    api.fake.enqueue(Script.reply("Yes").reasoning("Hmm"), Script.reply("No"));
    HttpResponse<String> first = api.post("/v1/responses", "{\"input\":\"One?\",\"stream\":true" + OPTIONS + "}",
        "x-talon-session-key", "replay-journal");
    List<String> live = frames(first.body());
    assertEquals(200, api.post("/v1/responses", "{\"input\":\"Two?\"}", "x-talon-session-key", "replay-journal")
        .statusCode());
    String id = completed(live).path("id").asText();
    assertEquals(completed(live), TalonApi.json(api.get("/v1/responses/" + id)));
    for (int after = -1; after < live.size(); after++) {
      assertEquals(live.subList(after + 1, live.size()), replay(id, after), "starting_after=" + after);
    }
  }

  @Test
  void aChatTurnReadsBackAsAResponseWithItsRequestInResponsesForm() throws Exception {
    api.fake.enqueue(Script.reply("Hi."));
    assertEquals(200, api.post("/v1/chat/completions", "{\"model\":\"fast\",\"temperature\":0.3,\"messages\":["
        + "{\"role\":\"system\",\"content\":\"Be kind.\"},{\"role\":\"user\",\"content\":\"Hello\"}],"
        + "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"lookup\",\"parameters\":{\"type\":\"object\"}}}],"
        + "\"tool_choice\":{\"type\":\"function\",\"function\":{\"name\":\"lookup\"}}}",
        "x-talon-session-key", "chat-read-back").statusCode());
    String id = TalonApi.json(api.get("/v1/conversations/chat-read-back")).path("turns").path(0).path("response_id")
        .asText();
    JsonNode response = TalonApi.json(api.get("/v1/responses/" + id));
    assertEquals("Be kind.", response.path("instructions").asText());
    assertEquals(0.3, response.path("temperature").asDouble());
    assertEquals(TalonApi.JSON.readTree("[{\"type\":\"function\",\"name\":\"lookup\",\"parameters\":{\"type\":\"object\"}}]"),
        response.path("tools"));
    assertEquals(TalonApi.JSON.readTree("{\"type\":\"function\",\"name\":\"lookup\"}"), response.path("tool_choice"));
    assertEquals("fast", response.path("talon").path("requested_model").asText());
  }

  @Test
  void anUnknownConversationIsNotFound() throws Exception {
    HttpResponse<String> response = api.get("/v1/conversations/never-used-1");
    assertEquals(404, response.statusCode(), response.body());
    assertEquals("conversation_not_found", TalonApi.json(response).path("error").path("code").asText());
  }

  @Test
  void aTranscriptIsWrittenInTheApisStyle() throws Exception {
    api.fake.enqueue(Script.reply("Hello Ada.").reasoning("A greeting.").usage(7, 3));
    assertEquals(200, api.post("/v1/responses", "{\"input\":\"I am Ada.\"}", "x-talon-session-key", "styled-1")
        .statusCode());
    HttpResponse<String> response = api.get("/v1/conversations/styled-1");
    assertEquals(200, response.statusCode(), response.body());
    JsonNode turn = TalonApi.json(response).path("turns").path(0);
    assertEquals("completed", turn.path("status").asText());
    assertEquals(TalonApi.JSON.readTree("[{\"type\":\"message\",\"role\":\"user\",\"content\":\"I am Ada.\"}]"),
        turn.path("input"));
    assertEquals(TalonApi.JSON.readTree("[{\"type\":\"message\",\"role\":\"assistant\",\"content\":\"Hello Ada.\"}]"),
        turn.path("output"));
    assertEquals("local/a", turn.path("model").asText());
    assertEquals(7, turn.path("usage").path("input_tokens").asInt());
    assertFalse(turn.has("reasoning"), "reasoning the client did not ask for is not shown later: " + turn);
    assertNoCamelCaseOrUpperCase(TalonApi.json(response));
  }

  private static void assertNoCamelCaseOrUpperCase(JsonNode node) {
    node.fields().forEachRemaining(field -> {
      assertTrue(field.getKey().matches("[a-z_]+"), "key " + field.getKey());
      if (field.getValue().isTextual() && List.of("role", "status", "type").contains(field.getKey())) {
        assertTrue(field.getValue().asText().matches("[a-z_]+"), field.getKey() + ": " + field.getValue());
      }
      assertNoCamelCaseOrUpperCase(field.getValue());
    });
    if (node.isArray()) {
      node.forEach(ResponseReplayTest::assertNoCamelCaseOrUpperCase);
    }
  }

  /**
   * Streams {@code body}, then checks the stored response against the stream's final one and the
   * replay after every {@code starting_after} against the stream's tail; returns the live frames.
   */
  private List<String> assertReplaysAsStreamed(String body, String... headers) throws Exception {
    HttpResponse<String> response = api.post("/v1/responses", body, headers);
    assertEquals(200, response.statusCode(), response.body());
    List<String> live = frames(response.body());
    JsonNode completed = completed(live);
    String id = completed.path("id").asText();
    assertEquals(completed, TalonApi.json(api.get("/v1/responses/" + id)), "the stored response");
    List<Integer> afters = new ArrayList<>(List.of(-1, 0, 1, 2, 5, live.size() / 2, live.size() - 2, live.size() - 1));
    IntStream.range(0, live.size()).filter(i -> live.get(i).contains("\"type\":\"response.output_item.done\""))
        .forEach(afters::add);
    for (int after : afters) {
      List<String> replay = replay(id, after);
      assertEquals(live.subList(after + 1, live.size()), replay, "starting_after=" + after);
    }
    return live;
  }

  /** @param after -1: the whole stream, without {@code starting_after} */
  private List<String> replay(String id, int after) throws Exception {
    HttpResponse<String> replay = api.get("/v1/responses/" + id + "?stream=true"
        + (after < 0 ? "" : "&starting_after=" + after));
    assertEquals(200, replay.statusCode(), replay.body());
    return frames(replay.body());
  }

  /** The SSE frames as sent, keep-alive comments left out (they depend on timing). */
  private static List<String> frames(String body) {
    return Arrays.stream(body.split("\n\n")).filter(frame -> !frame.isBlank() && !frame.startsWith(":")).toList();
  }

  private static JsonNode completed(List<String> frames) throws Exception {
    String last = frames.get(frames.size() - 1);
    assertTrue(last.startsWith("event: response.completed\n"), last);
    return TalonApi.JSON.readTree(last.substring(last.indexOf("data: ") + "data: ".length())).path("response");
  }

  private static List<String> outputTypes(JsonNode response) {
    List<String> types = new ArrayList<>();
    response.path("output").forEach(item -> types.add(item.path("type").asText()));
    return types;
  }
}
