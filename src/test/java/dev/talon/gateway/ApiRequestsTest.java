package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.testing.Script;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.Test;

/** What a request selects and carries: agents and models in OpenClaw's forms, options, sessions. */
class ApiRequestsTest extends OnANode {

  JsonNode lastUpstreamBody() {
    return api.fake.requests().get(api.fake.requests().size() - 1).body();
  }

  JsonNode ok(HttpResponse<String> response) throws Exception {
    assertEquals(200, response.statusCode(), response.body());
    return TalonApi.json(response);
  }

  @Test
  void openClawsModelFormsSelectAgentsAndModels() throws Exception {
    api.fake.enqueue(Script.reply("from helper"), Script.reply("by header"), Script.reply("by ref"));
    assertEquals("backup/b", ok(api.post("/v1/responses", "{\"model\":\"openclaw/helper\",\"input\":\"hi\"}"))
        .path("model").asText());
    assertEquals("backup/b", ok(api.post("/v1/responses", "{\"model\":\"openclaw\",\"input\":\"hi\"}",
        "x-openclaw-model", "backup/b")).path("model").asText());
    JsonNode byRef = ok(api.post("/v1/chat/completions", "{\"model\":\"local/a\",\"messages\":[{\"role\":\"user\","
        + "\"content\":\"hi\"}]}", "x-openclaw-agent-id", "helper"));
    assertEquals("local/a", byRef.path("model").asText(), "the requested model is tried first, whatever the agent");
  }

  @Test
  void requestOptionsReachTheModel() throws Exception {
    api.fake.enqueue(Script.reply("ok"));
    ok(api.post("/v1/responses", """
        {"input":[{"role":"user","content":[{"type":"input_text","text":"Be precise."}]}],
         "instructions":"You are terse.","temperature":0.2,"max_output_tokens":77,
         "reasoning":{"effort":"low"},"metadata":{"ticket":"T-1"}}"""));
    JsonNode body = lastUpstreamBody();
    assertEquals("You are terse.", body.path("instructions").asText());
    assertEquals(0.2, body.path("temperature").asDouble(), 1e-9);
    assertEquals(77, body.path("max_output_tokens").asInt());
    assertEquals("low", body.path("reasoning").path("effort").asText());
  }

  @Test
  void theUserFieldNamesAConversation() throws Exception {
    api.fake.enqueue(Script.reply("first"), Script.reply("second"));
    JsonNode first = ok(api.post("/v1/responses", "{\"input\":\"one\",\"user\":\"alice\"}"));
    ok(api.post("/v1/responses", "{\"input\":\"two\",\"user\":\"alice\"}"));
    assertEquals("user:alice", first.path("talon").path("session_key").asText());
    assertEquals(List.of("one", "first", "two"), StreamSupport.stream(lastUpstreamBody().path("input").spliterator(),
        false).map(item -> item.path("content").isTextual() ? item.path("content").asText()
            : item.path("content").path(0).path("text").asText()).toList());
  }

  @Test
  void withoutAnyKeyEachRequestIsANewConversation() throws Exception {
    api.fake.enqueue(Script.reply("a"), Script.reply("b"));
    String first = ok(api.post("/v1/responses", "{\"input\":\"one\"}")).path("talon").path("session_key").asText();
    String second = ok(api.post("/v1/responses", "{\"input\":\"two\"}")).path("talon").path("session_key").asText();
    assertTrue(!first.equals(second));
    assertEquals(1, lastUpstreamBody().path("input").size());
  }

  @Test
  void modelsListAgentsRefsAndAliases() throws Exception {
    JsonNode list = ok(api.get("/v1/models"));
    List<String> ids = StreamSupport.stream(list.path("data").spliterator(), false)
        .map(m -> m.path("id").asText()).toList();
    assertTrue(ids.containsAll(List.of("main", "helper", "local/a", "backup/b", "fast")), ids.toString());
    assertEquals("local", ok(api.get("/v1/models/local/a")).path("owned_by").asText());
  }

  @Test
  void deletingAConversationStartsItAfresh() throws Exception {
    api.fake.enqueue(Script.reply("remembered"), Script.reply("fresh"));
    ok(api.post("/v1/responses", "{\"input\":\"remember this\"}", "x-talon-session-key", "wipe-1"));
    assertEquals(1, ok(api.get("/v1/conversations/wipe-1")).path("turns").size());
    HttpResponse<String> deleted = api.http.send(api.request("/v1/conversations/wipe-1").DELETE().build(),
        HttpResponse.BodyHandlers.ofString());
    assertTrue(ok(deleted).path("deleted").asBoolean());
    assertEquals(404, api.get("/v1/conversations/wipe-1").statusCode(), "an erased conversation is unknown");
    ok(api.post("/v1/responses", "{\"input\":\"what did I say?\"}", "x-talon-session-key", "wipe-1"));
    assertEquals(1, lastUpstreamBody().path("input").size(), "the model sees nothing from before the reset");
  }

  @Test
  void aStatelessClientsWholeHistoryIsAccepted() throws Exception {
    api.fake.enqueue(Script.reply("19"));
    ok(api.post("/v1/responses", """
        {"store":false,"input":[
          {"type":"message","role":"user","content":[{"type":"input_text","text":"12+7?"}]},
          {"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"gAAAA"},
          {"type":"function_call","call_id":"c1","name":"add","arguments":"{\\"a\\":12,\\"b\\":7}"},
          {"type":"function_call_output","call_id":"c1","output":"19"},
          {"type":"message","role":"assistant","content":[{"type":"output_text","text":"It is 19."}]},
          {"role":"user","content":"Again?"}]}"""));
    assertEquals(List.of("message", "function_call", "function_call_output", "message", "message"),
        StreamSupport.stream(lastUpstreamBody().path("input").spliterator(), false)
            .map(item -> item.path("type").asText("message")).toList());
  }
}
