package dev.talon.conversation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.typesafe.config.ConfigFactory;
import dev.talon.conversation.ConversationEntity.ConversationReset;
import dev.talon.conversation.ConversationEntity.Event;
import dev.talon.conversation.ConversationEntity.ToolCallFinished;
import dev.talon.conversation.ConversationEntity.ToolCallStarted;
import dev.talon.conversation.ConversationEntity.TurnCompleted;
import dev.talon.conversation.ConversationEntity.TurnFailed;
import dev.talon.conversation.ConversationEntity.TurnInterrupted;
import dev.talon.conversation.ConversationEntity.TurnStarted;
import dev.talon.upstream.ModelRequest;
import dev.talon.upstream.ModelRequest.Role;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.apache.pekko.serialization.Serializers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** The journal's format: JSON with stable type names, no class names anywhere. */
class EventSerializationTest {
  static final ActorTestKit testKit = ActorTestKit.create("EventSerializationTest", ConfigFactory.load());
  static final Serialization serialization = SerializationExtension.get(testKit.system().classicSystem());

  @AfterAll
  static void shutdown() {
    testKit.shutdownTestKit();
  }

  static final OutputItem.McpCall READ = new OutputItem.McpCall("call_2", "fs", "read_file", "fs__read_file",
      "{}", OutputItem.McpCall.Status.COMPLETED, "contents", 8);

  static final TurnResult RESULT = new TurnResult(
      List.of(new OutputItem.Text("Hi"), READ, new OutputItem.FunctionCall("call_1", "weather", "{}")), "thinking",
      "local/alpha", List.of(new Attempt("local/beta", "SERVER_ERROR", 500, "boom", 12),
          new Attempt("local/alpha", null, 200, null, 30)), new TokenUsage(10, 5, 2, 1), 0.25, "tool_calls",
      List.of(new TurnResult.Part("local/beta", 0, 1), new TurnResult.Part("local/alpha", 1, 2)));

  static final Map<String, Event> EVENTS = Map.of(
      "turn-started", new TurnStarted("t1", List.of(new InputItem.Message(Role.USER, "hi"),
          new InputItem.FunctionCallOutput("call_0", "42")), "main", "local/beta",
          Instant.parse("2026-11-24T10:15:30.123456Z"), true, new Presentation(1795515330L, "fast", true,
              JsonNodeFactory.instance.objectNode().put("instructions", "Be brief.").put("temperature", 0.5))),
      "turn-completed", new TurnCompleted("t1", RESULT),
      "turn-failed", new TurnFailed("t1", "every candidate failed", "SERVER_ERROR", RESULT.attempts()),
      "turn-interrupted", new TurnInterrupted("t1"),
      "tool-call-started", new ToolCallStarted("t1", READ.with(OutputItem.McpCall.Status.RUNNING, null, 0)),
      "tool-call-finished", new ToolCallFinished("t1", READ),
      "conversation-reset", new ConversationReset(Instant.parse("2026-11-24T10:16:00Z")));

  @Test
  void eventsAreJsonWithTheirTypeNameAndAnEmptyManifest() {
    EVENTS.forEach((typeName, event) -> {
      Serializer serializer = serialization.findSerializerFor(event);
      assertEquals(7301, serializer.identifier(), typeName);
      assertEquals("", Serializers.manifestFor(serializer, event), typeName);
      byte[] bytes = serializer.toBinary(event);
      String json = new String(bytes, StandardCharsets.UTF_8);
      assertTrue(json.startsWith("{\"type\":\"" + typeName + "\""), json);
      assertTrue(!json.contains("dev.talon"), json);
      assertEquals(event, serialization.deserialize(bytes, serializer.identifier(), "").get());
    });
  }

  @Test
  void anEventWrittenAsJsonWithItsTypeNameIsRead() {
    String json = """
        {"type":"turn-completed","turnId":"t1","result":{
          "output":[{"type":"text","text":"Hi"},{"type":"mcp_call","callId":"call_2","server":"fs","tool":"read_file",
            "function":"fs__read_file","arguments":"{}","status":"COMPLETED","output":"contents","fullChars":8},
            {"type":"function_call","callId":"call_1","name":"weather","arguments":"{}"}],
          "reasoning":"thinking","model":"local/alpha",
          "attempts":[{"model":"local/beta","failureKind":"SERVER_ERROR","status":500,"message":"boom","millis":12},
                      {"model":"local/alpha","failureKind":null,"status":200,"message":null,"millis":30}],
          "usage":{"inputTokens":10,"outputTokens":5,"cachedTokens":2,"reasoningTokens":1},
          "costUsd":0.25,"finishReason":"tool_calls",
          "parts":[{"model":"local/beta","start":0,"end":1},{"model":"local/alpha","start":1,"end":2}],
          "aFieldFromTheFuture":true}}
        """;
    assertEquals(EVENTS.get("turn-completed"), read(json));
    // A turn journaled before results recorded their parts reads as one without them.
    TurnCompleted old = (TurnCompleted) read(json.replaceAll("\\s*\"parts\":\\[[^\\]]*\\],", ""));
    assertEquals(List.of(), old.result().parts());
    assertEquals(RESULT.output(), old.result().output());
  }

  static Object read(String json) {
    return serialization.deserialize(json.getBytes(StandardCharsets.UTF_8), 7301, "").get();
  }

  @Test
  void aTurnStartedWrittenBeforePresentationsWereKeptIsRead() {
    String json = """
        {"type":"turn-started","turnId":"t1","input":[{"type":"message","role":"USER","text":"hi"}],
         "agentId":"main","requestedModel":null,"startedAt":"2026-11-24T10:15:30Z"}
        """;
    TurnStarted event = (TurnStarted) serialization.deserialize(json.getBytes(StandardCharsets.UTF_8), 7301, "").get();
    assertEquals(List.of(new InputItem.Message(Role.USER, "hi")), event.input());
    assertEquals(null, event.presentation());
    assertEquals(false, event.keyless());
  }

  @Test
  void snapshotsAndLiveTurnEventsUseJacksonJson() {
    int jacksonJson = 31;
    assertEquals(jacksonJson, serialization.findSerializerFor(ConversationEntity.State.EMPTY).identifier());
    assertEquals(jacksonJson, serialization.findSerializerFor(new TurnEvent.TextDelta("x")).identifier());
  }

  @Test
  void imagesAreJournaledAsPartsAndTextOnlyItemsAsBefore() {
    TurnStarted started = new TurnStarted("t2", List.of(
        InputItem.of(new ModelRequest.Message(Role.USER, List.of(new ModelRequest.Text("What is this?"),
            new ModelRequest.Image("data:image/png;base64,AAAA", "low")))),
        InputItem.of(new ModelRequest.FunctionCallOutput("call_1", List.of(new ModelRequest.Text("cat.png"),
            new ModelRequest.Image("https://example.com/cat.png", null)))),
        InputItem.of(new ModelRequest.Message(Role.USER, "plain"))), "main", null, Instant.parse("2026-11-30T10:00:00Z"),
        false, null);
    Serializer serializer = serialization.findSerializerFor(started);
    byte[] bytes = serializer.toBinary(started);
    String json = new String(bytes, StandardCharsets.UTF_8);
    assertTrue(json.contains("\"content\":[{\"type\":\"text\",\"text\":\"What is this?\"},{\"type\":\"image\","
        + "\"url\":\"data:image/png;base64,AAAA\",\"detail\":\"low\"}]"), json);
    assertTrue(json.contains("{\"type\":\"message\",\"role\":\"USER\",\"text\":\"plain\"}"),
        "a text-only item is written as before images: " + json);
    assertEquals(started, serialization.deserialize(bytes, serializer.identifier(), "").get());
    assertEquals(new ModelRequest.Image("https://example.com/cat.png", null),
        ((ModelRequest.FunctionCallOutput) started.input().get(1).toModelItem()).content().get(1));
  }

  @Test
  void aTurnJournaledBeforeImagesIsRead() {
    String json = """
        {"type":"turn-started","turnId":"t1","input":[{"type":"message","role":"USER","text":"hi"},
          {"type":"function_call_output","callId":"call_0","output":"42"}],
         "agentId":"main","requestedModel":"local/beta","startedAt":"2026-11-24T10:15:30.123456Z","keyless":true}
        """;
    TurnStarted sample = (TurnStarted) EVENTS.get("turn-started");
    assertEquals(new TurnStarted(sample.turnId(), sample.input(), sample.agentId(), sample.requestedModel(),
            sample.startedAt(), sample.keyless(), null), // written before turns kept their presentation too
        serialization.deserialize(json.getBytes(StandardCharsets.UTF_8), 7301, "").get());
  }
}
