package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.testing.ErrorBodies;
import dev.talon.testing.Script;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.Test;

/** The Chat Completions stream as sent: data-only chunks, a usage chunk when asked, {@code [DONE]}. */
class ChatCompletionsSseTest extends OnANode {
  /** The {@code data:} payloads of a streamed response, in order; fails on any other field line. */
  static List<String> data(HttpResponse<String> response) {
    List<String> data = new ArrayList<>();
    for (String line : response.body().split("\n")) {
      if (line.startsWith("data: ")) {
        data.add(line.substring("data: ".length()));
      } else {
        assertTrue(line.isEmpty() || line.startsWith(":"), "unexpected line: " + line);
      }
    }
    return data;
  }

  @Test
  void chunksThenUsageThenDone() throws Exception {
    api.fake.enqueue(Script.reply("Small chunks of text.").usage(6, 5));
    HttpResponse<String> response = api.post("/v1/chat/completions", """
        {"model":"helper","stream":true,"stream_options":{"include_usage":true},
         "messages":[{"role":"user","content":"Go"}]}""");
    assertEquals(200, response.statusCode());
    List<String> data = data(response);
    assertEquals("[DONE]", data.get(data.size() - 1));
    List<JsonNode> chunks = new ArrayList<>();
    for (String d : data.subList(0, data.size() - 1)) {
      chunks.add(TalonApi.JSON.readTree(d));
    }
    chunks.forEach(chunk -> assertEquals("chat.completion.chunk", chunk.path("object").asText()));
    assertEquals(1, chunks.stream().map(c -> c.path("id").asText()).distinct().count(), "one id per stream");
    assertEquals("assistant", chunks.get(0).path("choices").path(0).path("delta").path("role").asText());
    StringBuilder text = new StringBuilder();
    chunks.forEach(c -> text.append(c.path("choices").path(0).path("delta").path("content").asText("")));
    assertEquals("Small chunks of text.", text.toString());

    JsonNode finish = chunks.get(chunks.size() - 2);
    assertEquals("stop", finish.path("choices").path(0).path("finish_reason").asText());
    JsonNode usage = chunks.get(chunks.size() - 1);
    assertEquals(0, usage.path("choices").size());
    assertEquals(6, usage.path("usage").path("prompt_tokens").asInt());
    assertEquals(5, usage.path("usage").path("completion_tokens").asInt());
    chunks.subList(0, chunks.size() - 1).forEach(c -> assertTrue(c.path("usage").isNull()));
  }

  @Test
  void withASessionKeyTheServerKeepsTheHistory() throws Exception {
    api.fake.enqueue(Script.reply("Hello, Ada."), Script.reply("Your name is Ada."));
    assertEquals(200, api.post("/v1/chat/completions", """
        {"model":"helper","messages":[{"role":"system","content":"Be kind."},{"role":"user","content":"I am Ada."}]}""",
        "x-openclaw-session-key", "chat-session-1").statusCode());
    HttpResponse<String> second = api.post("/v1/chat/completions", """
        {"model":"helper","messages":[{"role":"user","content":"What is my name?"}]}""",
        "x-openclaw-session-key", "chat-session-1");
    assertEquals(200, second.statusCode());
    assertEquals("Your name is Ada.", TalonApi.json(second).path("choices").path(0).path("message").path("content")
        .asText());
    var messages = api.fake.requests().get(api.fake.requests().size() - 1).body().path("messages");
    assertEquals(List.of("user: I am Ada.", "assistant: Hello, Ada.", "user: What is my name?"),
        StreamSupport.stream(messages.spliterator(), false)
            .map(m -> m.path("role").asText() + ": " + m.path("content").asText()).toList());
    assertEquals(2, api.transcript("chat-session-1").turns().size());
  }

  @Test
  void aToolCallStreamsAsOneDeltaAndFinishesWithToolCalls() throws Exception {
    api.fake.enqueue(Script.reply().toolCall("add", "{\"a\":1,\"b\":2}"));
    HttpResponse<String> response = api.post("/v1/chat/completions", """
        {"model":"helper","stream":true,"messages":[{"role":"user","content":"1+2?"}],
         "tools":[{"type":"function","function":{"name":"add","parameters":{"type":"object"}}}]}""");
    List<String> data = data(response);
    List<JsonNode> chunks = new ArrayList<>();
    for (String d : data.subList(0, data.size() - 1)) {
      chunks.add(TalonApi.JSON.readTree(d));
    }
    JsonNode call = chunks.stream().map(c -> c.path("choices").path(0).path("delta").path("tool_calls").path(0))
        .filter(n -> !n.isMissingNode()).findFirst().orElseThrow();
    assertEquals(0, call.path("index").asInt());
    assertEquals("add", call.path("function").path("name").asText());
    assertEquals("{\"a\":1,\"b\":2}", call.path("function").path("arguments").asText());
    assertEquals("tool_calls", chunks.get(chunks.size() - 1).path("choices").path(0).path("finish_reason").asText());
  }

  @Test
  void inRestartModeAFailoverAfterTextIsMarkedAndTheNextModelStartsAgain(@TempDir Path ownData) throws Exception {
    // A node of its own, set to restart: the failed model's cooldown must not reach the other tests.
    try (TalonApi own = TalonApi.start(ownData, TalonApi.TOKEN,
        TalonApi.DEFAULT_CONFIG.replace("backoffMaxMs: 20", "backoffMaxMs: 20, midStream: \"restart\""))) {
      own.fake.enqueue(Script.reply("a partial answer that breaks").dropAfter(2),
          Script.status(500, ErrorBodies.openAiServerError()), Script.reply("The final answer."));
      List<String> data = data(own.post("/v1/chat/completions", """
          {"stream":true,"messages":[{"role":"user","content":"Go"}]}"""));
      StringBuilder shown = new StringBuilder();
      List<JsonNode> switches = new ArrayList<>();
      for (String d : data.subList(0, data.size() - 1)) {
        JsonNode chunk = TalonApi.JSON.readTree(d);
        if (chunk.has("talon")) {
          JsonNode switched = chunk.path("talon").path("model_switched");
          switches.add(switched);
          if (switched.path("discard_output").asBoolean()) {
            shown.setLength(0); // what a client that knows the marker does
          }
        }
        shown.append(chunk.path("choices").path(0).path("delta").path("content").asText(""));
      }
      assertTrue(switches.get(0).path("discard_output").asBoolean(), "text had been shown: " + switches);
      JsonNode last = switches.get(switches.size() - 1);
      assertEquals("local/a", last.path("from").asText());
      assertEquals("backup/b", last.path("to").asText());
      assertEquals("The final answer.", shown.toString());
      assertEquals("[DONE]", data.get(data.size() - 1));
    }
  }
}
