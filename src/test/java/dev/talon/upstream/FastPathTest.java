package dev.talon.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.testing.TestResources;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.stream.Stream;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.sse.ServerSentEvent;
import org.apache.pekko.http.javadsl.unmarshalling.sse.EventStreamUnmarshalling;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The streaming fast path of the stream parsers gives exactly what reading every frame as a tree gives. */
class FastPathTest {
  static final ActorTestKit testKit = ActorTestKit.create();

  @AfterAll
  static void shutdown() {
    testKit.shutdownTestKit();
  }

  /** What a parser made of a stream: its events up to the end or the failure, and the failure. */
  record Outcome(List<ModelEvent> events, UpstreamFailure failure) {}

  /** A frame's data as the reader hands it over: its UTF-8 bytes. */
  static EventData bytes(String data) {
    byte[] utf8 = data.getBytes(StandardCharsets.UTF_8);
    return new EventData(utf8, utf8.length);
  }

  /** Drives a parser as {@link ModelCall} does: stops reading once it says the stream is over. */
  static Outcome run(StreamParser parser, List<ServerSentEvent> events) {
    List<ModelEvent> out = new ArrayList<>();
    try {
      for (ServerSentEvent event : events) {
        out.addAll(parser.onEvent(event.getEventType().orElse(null), bytes(event.getData())));
        if (parser.finished()) {
          break;
        }
      }
      out.addAll(parser.onEnd());
      return new Outcome(out, null);
    } catch (UpstreamException e) {
      return new Outcome(out, e.failure());
    }
  }

  static void assertSame(Supplier<StreamParser> fast, Supplier<StreamParser> tree, List<ServerSentEvent> events) {
    assertEquals(run(tree.get(), events), run(fast.get(), events));
  }

  static void chatSame(List<ServerSentEvent> events) {
    for (boolean thinkTags : new boolean[] {true, false}) {
      assertSame(() -> new ChatStreamParser(thinkTags, true), () -> new ChatStreamParser(thinkTags, false), events);
    }
  }

  static void responsesSame(List<ServerSentEvent> events) {
    assertSame(() -> new ResponsesStreamParser(true), () -> new ResponsesStreamParser(false), events);
  }

  static List<ServerSentEvent> sse(byte[] body) throws Exception {
    var entity = HttpEntities.create(MediaTypes.TEXT_EVENT_STREAM.toContentType(), Source.single(ByteString.fromArray(body)));
    return EventStreamUnmarshalling.fromEventsStream(testKit.system().classicSystem()).unmarshal(entity, testKit.system())
        .thenCompose(events -> events.runWith(Sink.seq(), testKit.system()))
        .toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  static List<ServerSentEvent> data(String... frames) {
    return Stream.of(frames).map(ServerSentEvent::create).toList();
  }

  @Test
  void everyRecordedStreamParsesAsItDoesFromTrees() throws Exception {
    int fastFrames = 0;
    try (Stream<java.nio.file.Path> files = Files.list(TestResources.upstreamFixture(""))) {
      for (String name : files.map(p -> p.getFileName().toString())
          .filter(n -> n.endsWith(".sse") || n.endsWith(".chunks.jsonl")).sorted().toList()) {
        List<ServerSentEvent> events = sse(ParsedStream.fixtureBody(name));
        boolean chat = name.contains("-chat-");
        assertTrue(chat || name.contains("-responses-"), name);
        if (chat) {
          chatSame(events);
        } else {
          responsesSame(events);
        }
        for (ServerSentEvent event : events) {
          boolean fast = chat ? FastFrames.chatContent(bytes(event.getData())) != null
              : FastFrames.typedDelta(bytes(event.getData()), ResponsesStreamParser.DELTAS.keySet()) != null;
          fastFrames += fast ? 1 : 0;
        }
      }
    }
    // The text fixtures alone have hundreds of plain deltas: most frames must take the fast path.
    assertTrue(fastFrames > 400, "frames read on the fast path: " + fastFrames);
  }

  // ---- Chat Completions ----

  static String choice(String delta, String finishReason) {
    return "{\"index\":0,\"delta\":" + delta + ",\"logprobs\":null,\"finish_reason\":" + finishReason + "}";
  }

  static String chunk(String choices, String extra) {
    return "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m\","
        + "\"system_fingerprint\":\"fp\",\"choices\":[" + choices + "]" + extra + "}";
  }

  static String content(String jsonString) {
    return chunk(choice("{\"content\":" + jsonString + "}", "null"), "");
  }

  /** A case chunk in a whole stream: an opening chunk before it, a finish chunk and [DONE] after. */
  static List<ServerSentEvent> around(ServerSentEvent event) {
    return List.of(ServerSentEvent.create(chunk(choice("{\"role\":\"assistant\",\"content\":\"\"}", "null"), "")),
        event, ServerSentEvent.create(chunk(choice("{}", "\"stop\""), "")), ServerSentEvent.create("[DONE]"));
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "\"plain\"", "\"\"", "null", "\"nul \\u0000 and bell \\u0007\"", "\"escaped \\\"quotes\\\" and \\\\ and \\/\"",
      "\"emoji \uD83D\uDE00 raw and \\ud83d\\ude00 escaped\"", "\"line\\nbreak\\ttab \\u2028 CJK 漢字\"",
      "\"<think>inline</think>answer\"", "\"lone \\ud800 surrogate\""})
  void plainContentTakesTheFastPath(String text) throws Exception {
    String frame = content(text);
    FastFrames.ChatContent fast = FastFrames.chatContent(bytes(frame));
    assertNotNull(fast, frame);
    assertEquals(UpstreamJson.MAPPER.readTree(frame).at("/choices/0/delta/content").textValue(), fast.content());
    chatSame(around(ServerSentEvent.create(frame)));
  }

  @ParameterizedTest
  @ValueSource(strings = {
      "{\"role\":\"assistant\",\"content\":null}",
      "{\"content\":\"answer\",\"reasoning_content\":null}", // DeepSeek's answer tokens
      "{\"content\":\"first\",\"content\":\"last wins\"}",
      "{\"content\":\"x\",\"tool_calls\":null,\"function_call\":null,\"reasoning\":null,\"reasoning_details\":null}",
      "{\"content\":\"x\",\"channel\":\"final\"}"})
  void simpleDeltasTakeTheFastPath(String delta) {
    String frame = chunk(choice(delta, "null"), ",\"usage\":null");
    assertNotNull(FastFrames.chatContent(bytes(frame)), frame);
    chatSame(around(ServerSentEvent.create(frame)));
  }

  @Test
  void theFinishChunkTakesTheFastPath() {
    String finish = chunk(choice("{}", "\"length\""), "");
    assertEquals(new FastFrames.ChatContent(null, "length"), FastFrames.chatContent(bytes(finish)));
    chatSame(data(content("\"<thi\""), content("\"nk>held\""), finish, "[DONE]"));
  }

  @ParameterizedTest
  @ValueSource(strings = {
      // an error, whatever else the chunk carries
      "{\"choices\":[" + "{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}" + "],"
          + "\"error\":{\"message\":\"boom\",\"code\":500}}",
      "{\"error\":null,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}",
      "{\"error\":\"\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}",
      "{\"error\":\"quota\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":null}]}",
      // usage with content
      "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"},\"finish_reason\":\"stop\"}],"
          + "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}",
      // two choices, none, no choices field, choices not an array
      "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}},{\"index\":1,\"delta\":{\"content\":\"b\"}}]}",
      "{\"choices\":[]}", "{\"id\":\"x\"}", "{\"choices\":{\"index\":0,\"delta\":{\"content\":\"a\"}}}",
      "{\"choices\":[\"a\"]}",
      // reasoning, tool calls, the old function call
      "{\"choices\":[{\"index\":0,\"delta\":{\"content\":null,\"reasoning_content\":\"think\"}}]}",
      "{\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"think\"}}]}",
      "{\"choices\":[{\"index\":0,\"delta\":{\"reasoning\":\"a\",\"reasoning_details\":[{\"text\":\"a\"}]}}]}",
      "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":"
          + "{\"name\":\"f\",\"arguments\":\"{}\"}}]}}]}",
      "{\"choices\":[{\"index\":0,\"delta\":{\"function_call\":{\"name\":\"f\",\"arguments\":\"{}\"}}}]}",
      // unknown nesting at each level
      "{\"x_groq\":{\"id\":\"q\"},\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}",
      "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"logprobs\":{\"content\":[]}}]}",
      "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\",\"audio\":{\"id\":\"x\"}}}]}",
      // shapes the tree reads in its own way
      "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},\"delta\":{\"role\":\"assistant\"}}]}",
      "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}],\"choices\":[]}",
      "{\"choices\":[{\"index\":0,\"delta\":{\"content\":7},\"finish_reason\":7}]}",
      "{\"choices\":[{\"index\":0,\"delta\":\"a\"}]}",
      "{\"usage\":7,\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}",
      // not JSON, or not an object
      "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]", "{\"choices\":[{\"delta\":{\"content\":\"a\tb\"}}]}",
      "[1]", "", "nonsense"})
  void anythingElseIsReadAsATree(String frame) {
    assertNull(FastFrames.chatContent(bytes(frame)), frame);
    chatSame(around(ServerSentEvent.create(frame)));
  }

  @Test
  void anErrorEventIsReadAsATree() {
    ServerSentEvent error = ServerSentEvent.create(content("\"hi\""), "error");
    assertNotNull(run(new ChatStreamParser(true, true), around(error)).failure());
    chatSame(around(error));
  }

  // ---- Responses ----

  @Nested
  class Responses {
    static final String COMPLETED = "{\"type\":\"response.completed\",\"response\":{\"output\":[],"
        + "\"usage\":{\"input_tokens\":3,\"output_tokens\":2}}}";

    static List<ServerSentEvent> around(String frame) {
      return data("{\"type\":\"response.output_text.delta\",\"delta\":\"before \"}", frame, COMPLETED);
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "{\"type\":\"response.output_text.delta\",\"content_index\":0,\"delta\":\"Hi \\\"q\\\" \\u0000 \uD83D\uDE00 \\ud83d\\ude00\","
            + "\"item_id\":\"msg_1\",\"output_index\":0,\"sequence_number\":4,\"logprobs\":[],\"obfuscation\":\"x\"}",
        "{\"delta\":\"type last\",\"logprobs\":[{\"token\":\"a\",\"bytes\":[97],\"top_logprobs\":[]}],"
            + "\"type\":\"response.output_text.delta\"}",
        "{\"type\":\"response.reasoning_text.delta\",\"item_id\":\"rs_1\",\"delta\":\"think\"}",
        "{\"type\":\"response.reasoning_summary_text.delta\",\"delta\":\"sum\",\"summary_index\":0}",
        "{\"type\":\"response.refusal.delta\",\"delta\":\"no\"}",
        "{\"type\":\"response.output_text.delta\",\"delta\":\"\"}"})
    void textDeltasTakeTheFastPath(String frame) {
      assertNotNull(FastFrames.typedDelta(bytes(frame), ResponsesStreamParser.DELTAS.keySet()), frame);
      responsesSame(around(frame));
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "{\"type\":\"response.output_text.delta\",\"delta\":\"x\",\"error\":{\"message\":\"boom\"}}",
        "{\"type\":\"response.output_text.delta\",\"delta\":\"x\",\"error\":null}",
        "{\"type\":\"response.output_text.delta\",\"delta\":null}",
        "{\"type\":\"response.output_text.delta\",\"delta\":7}",
        "{\"type\":\"response.output_text.delta\",\"delta\":{\"text\":\"x\"}}",
        "{\"type\":\"response.output_text.delta\"}",
        "{\"delta\":\"no type\"}",
        "{\"type\":7,\"delta\":\"x\"}",
        "{\"type\":\"response.function_call_arguments.delta\",\"item_id\":\"fc\",\"delta\":\"{}\"}",
        "{\"type\":\"response.output_text.delta\",\"delta\":\"x\"",
        "[DONE]"})
    void anythingElseIsReadAsATree(String frame) {
      assertNull(FastFrames.typedDelta(bytes(frame), ResponsesStreamParser.DELTAS.keySet()), frame);
      responsesSame(around(frame));
    }
  }
}
