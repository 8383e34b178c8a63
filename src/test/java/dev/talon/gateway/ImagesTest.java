package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.testing.ErrorBodies;
import dev.talon.testing.Request;
import dev.talon.testing.Script;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Images through the API: passed on to models that read them, in each upstream protocol's
 * shape; a note in their place for text-only models, decided per candidate.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ImagesTest {
  static final String PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
  static final String PNG_DATA = PNG.substring(PNG.indexOf(',') + 1);
  static final String HTTPS = "https://images.example.com/cat.jpg";
  static final String NOTE = "[image omitted: this model cannot see images]";

  @TempDir static Path dataDir;
  TalonApi api;

  @BeforeAll
  void startNode() throws Exception {
    api = TalonApi.start(dataDir, TalonApi.TOKEN, """
        { agents: { defaults: { model: { primary: "vision/v", fallbacks: ["text/t"] } },
                    list: [{ id: "main", default: true },
                           { id: "flaky", model: { primary: "flaky/f", fallbacks: ["text/t"] } }] },
          models: { mode: "replace", providers: {
            vision: { baseUrl: "%1$s", api: "openai-responses", models: [{ id: "v", input: ["text", "image"] }] },
            chat: { baseUrl: "%1$s", api: "openai-completions", models: [{ id: "c", input: ["text", "image"] }] },
            claude: { baseUrl: "%1$s", api: "anthropic-messages", models: [{ id: "a", input: ["text", "image"] }] },
            flaky: { baseUrl: "%1$s", api: "openai-responses", models: [{ id: "f", input: ["text", "image"] }] },
            text: { baseUrl: "%1$s", api: "openai-completions", models: [{ id: "t" }] } } },
          talon: { failover: { retries: 0 } } }
        """);
  }

  @AfterAll
  void stopNode() throws Exception {
    api.close();
  }

  /** One answered turn; what the fake upstream received for it. */
  JsonNode sent(String path, String body, String... headers) throws Exception {
    api.fake.enqueue(Script.reply("I see."));
    int before = api.fake.requests().size();
    HttpResponse<String> response = api.post(path, body, headers);
    assertEquals(200, response.statusCode(), response.body());
    List<Request> requests = api.fake.requests();
    assertEquals(before + 1, requests.size());
    return requests.get(requests.size() - 1).body();
  }

  static String responsesUserImage(String model) {
    return """
        {"model":"%s","input":[{"role":"user","content":[{"type":"input_text","text":"What is this?"},
          {"type":"input_image","image_url":"%s","detail":"low"}]}]}""".formatted(model, PNG);
  }

  static String responsesToolImage(String model) {
    return """
        {"model":"%s","input":[{"role":"user","content":"Read cat.png"},
          {"type":"function_call","call_id":"call_1","name":"read","arguments":"{\\"path\\":\\"cat.png\\"}"},
          {"type":"function_call_output","call_id":"call_1","output":[
            {"type":"input_text","text":"Read image file [image/png]"},{"type":"input_image","image_url":"%s"}]}]}"""
        .formatted(model, PNG);
  }

  static String chatUserImage(String model) {
    return """
        {"model":"%s","messages":[{"role":"user","content":[{"type":"text","text":"And this?"},
          {"type":"image_url","image_url":{"url":"%s"}}]}]}""".formatted(model, HTTPS);
  }

  // ---- models that read images --------------------------------------------------------------

  @Test
  void aUserImageReachesAResponsesModel() throws Exception {
    JsonNode content = sent("/v1/responses", responsesUserImage("vision/v")).path("input").path(0).path("content");
    assertEquals("What is this?", content.path(0).path("text").asText());
    assertEquals("input_image", content.path(1).path("type").asText());
    assertEquals(PNG, content.path(1).path("image_url").asText());
    assertEquals("low", content.path(1).path("detail").asText());
  }

  @Test
  void aUserImageReachesAChatModel() throws Exception {
    JsonNode content = sent("/v1/responses", responsesUserImage("chat/c")).path("messages").path(0).path("content");
    assertEquals("text", content.path(0).path("type").asText());
    assertEquals("image_url", content.path(1).path("type").asText());
    assertEquals(PNG, content.path(1).path("image_url").path("url").asText());
    assertEquals("low", content.path(1).path("image_url").path("detail").asText());
  }

  @Test
  void aUserImageReachesAnAnthropicModelAsBase64() throws Exception {
    JsonNode content = sent("/v1/responses", responsesUserImage("claude/a")).path("messages").path(0).path("content");
    assertEquals("What is this?", content.path(0).path("text").asText());
    JsonNode source = content.path(1).path("source");
    assertEquals("image", content.path(1).path("type").asText());
    assertEquals("base64", source.path("type").asText());
    assertEquals("image/png", source.path("media_type").asText());
    assertEquals(PNG_DATA, source.path("data").asText());
  }

  @Test
  void aToolResultImageReachesAResponsesModel() throws Exception {
    JsonNode output = sent("/v1/responses", responsesToolImage("vision/v")).path("input").path(2).path("output");
    assertEquals("Read image file [image/png]", output.path(0).path("text").asText());
    assertEquals(PNG, output.path(1).path("image_url").asText());
  }

  @Test
  void aToolResultImageReachesAChatModelInAUserMessageAfterTheToolResult() throws Exception {
    JsonNode messages = sent("/v1/responses", responsesToolImage("chat/c")).path("messages");
    assertEquals("tool", messages.path(2).path("role").asText());
    assertEquals("Read image file [image/png]", messages.path(2).path("content").asText());
    assertEquals("user", messages.path(3).path("role").asText());
    assertTrue(messages.path(3).path("content").path(0).path("text").asText().contains("call_1"));
    assertEquals(PNG, messages.path(3).path("content").path(1).path("image_url").path("url").asText());
  }

  @Test
  void aToolResultImageReachesAnAnthropicModelInsideTheToolResult() throws Exception {
    JsonNode result = sent("/v1/responses", responsesToolImage("claude/a")).path("messages").path(2)
        .path("content").path(0);
    assertEquals("tool_result", result.path("type").asText());
    assertEquals("Read image file [image/png]", result.path("content").path(0).path("text").asText());
    assertEquals(PNG_DATA, result.path("content").path(1).path("source").path("data").asText());
  }

  @Test
  void aChatImageUrlReachesEachApi() throws Exception {
    assertEquals(HTTPS, sent("/v1/chat/completions", chatUserImage("vision/v")).path("input").path(0).path("content")
        .path(1).path("image_url").asText());
    assertEquals(HTTPS, sent("/v1/chat/completions", chatUserImage("chat/c")).path("messages").path(0)
        .path("content").path(1).path("image_url").path("url").asText());
    JsonNode source = sent("/v1/chat/completions", chatUserImage("claude/a")).path("messages").path(0)
        .path("content").path(1).path("source");
    assertEquals("url", source.path("type").asText());
    assertEquals(HTTPS, source.path("url").asText());
  }

  @Test
  void aChatToolMessageImageReachesAChatModel() throws Exception {
    JsonNode messages = sent("/v1/chat/completions", """
        {"model":"chat/c","messages":[{"role":"user","content":"Read cat.png"},
          {"role":"assistant","content":null,"tool_calls":[{"id":"call_9","type":"function",
            "function":{"name":"read","arguments":"{}"}}]},
          {"role":"tool","tool_call_id":"call_9","content":[{"type":"text","text":"cat.png"},
            {"type":"image_url","image_url":{"url":"%s"}}]}]}""".formatted(PNG)).path("messages");
    assertEquals("cat.png", messages.path(2).path("content").asText());
    assertEquals(PNG, messages.path(3).path("content").path(1).path("image_url").path("url").asText());
  }

  // ---- text-only models ---------------------------------------------------------------------

  @Test
  void aTextOnlyModelGetsANoteInsteadOfAUserImage() throws Exception {
    JsonNode message = sent("/v1/responses", responsesUserImage("text/t")).path("messages").path(0);
    assertEquals("What is this?\n" + NOTE, message.path("content").asText());
    JsonNode fromChat = sent("/v1/chat/completions", chatUserImage("text/t")).path("messages").path(0);
    assertEquals("And this?\n" + NOTE, fromChat.path("content").asText());
  }

  @Test
  void aTextOnlyModelGetsANoteInsteadOfAToolResultImage() throws Exception {
    JsonNode messages = sent("/v1/responses", responsesToolImage("text/t")).path("messages");
    assertEquals("Read image file [image/png]\n" + NOTE, messages.path(2).path("content").asText());
    assertEquals(3, messages.size(), "no user message of images follows");
    assertFalse(messages.toString().contains("base64"), messages.toString());
  }

  @Test
  void aTurnThatFailsOverFromAnImageModelToATextOnlyOneSendsItTheNote() throws Exception {
    api.fake.enqueue(Script.status(404, ErrorBodies.vllmModelNotFound("f")), Script.reply("A note, I see."));
    int before = api.fake.requests().size();
    HttpResponse<String> response = api.post("/v1/responses", responsesUserImage("flaky"));
    assertEquals(200, response.statusCode(), response.body());
    assertEquals("text/t", TalonApi.json(response).path("model").asText());
    List<Request> requests = api.fake.requests().subList(before, api.fake.requests().size());
    assertEquals(2, requests.size());
    assertEquals(PNG, requests.get(0).body().path("input").path(0).path("content").path(1).path("image_url").asText(),
        "the image model got the image");
    assertEquals("What is this?\n" + NOTE, requests.get(1).body().path("messages").path(0).path("content").asText(),
        "the text-only fallback got the note");
  }

  // ---- kept with the conversation ------------------------------------------------------------

  @Test
  void anImageIsJournaledWithItsTurnAndSentAgainLater() throws Exception {
    String[] session = {"x-talon-session-key", "images-kept-1"};
    sent("/v1/responses", responsesUserImage("vision/v"), session);
    JsonNode second = sent("/v1/responses", "{\"model\":\"vision/v\",\"input\":\"Is it still there?\"}", session);
    assertEquals(PNG, second.path("input").path(0).path("content").path(1).path("image_url").asText());
    JsonNode transcript = TalonApi.json(api.get("/v1/conversations/images-kept-1"));
    assertTrue(transcript.toString().contains(PNG), transcript.toString());
  }

  @Test
  void anImageCountsInTheContextWhenAnOverflowIsCompacted() throws Exception {
    String[] session = {"x-talon-session-key", "images-compacted-1"};
    sent("/v1/responses", "{\"model\":\"vision/v\",\"input\":\"" + "older words ".repeat(300) + "\"}", session);
    sent("/v1/responses", responsesUserImage("vision/v"), session);
    api.fake.enqueue(Script.status(400, ErrorBodies.llamaCppContextOverflow(5000, 4096)),
        Script.reply("SUMMARY: older words, then an image."), Script.reply("fits"));
    HttpResponse<String> response = api.post("/v1/responses", "{\"model\":\"vision/v\",\"input\":\"now\"}", session);
    assertEquals(200, response.statusCode(), response.body());
    List<Request> requests = api.fake.requests();
    assertEquals(5, requests.get(requests.size() - 3).body().path("input").size(), "the whole conversation first");
    // by text alone the older words would be the larger half, and the image's turn would be kept;
    // the image weighs more, so it is folded into the summary with the older one
    assertEquals(2, requests.get(requests.size() - 1).body().path("input").size(),
        "the summary and the new input: " + requests.get(requests.size() - 1).body());
  }
}
