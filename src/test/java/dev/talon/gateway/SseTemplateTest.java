package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.conversation.TurnEvent;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.util.ByteString;
import org.junit.jupiter.api.Test;

/**
 * The per-token events written from templates are byte for byte what writing their JSON tree
 * gives, which is how every event was written before (the references below are that code).
 */
class SseTemplateTest {
  static final List<String> TEXTS = texts();

  static List<String> texts() {
    List<String> texts = new ArrayList<>(List.of("", "plain", " leading space", "quote \" backslash \\ slash /",
        "\n\r\t\b\f", "line\u2028sep\u2029para", "emoji \uD83D\uDE00 and \uD83C\uDDE7\uD83C\uDDF7", "漢字とかな",
        "Latin-1 é ü ß \u0085 \u00A0", "bom \uFEFF", "lone \uD800 high", "end \uD83D", "\uDC00 low first",
        "<script>&amp;'</script>", "data: fake\n\nevent: x", SseTemplate.TEXT, SseTemplate.NUMBER));
    StringBuilder control = new StringBuilder();
    for (char c = 0; c < 0x20; c++) {
      control.append(c);
    }
    texts.add(control.append('\u007F').toString());
    texts.add("long é😀\"\\\u0001 ".repeat(4000));
    return texts;
  }

  /** How a Chat chunk was written: its tree, then "data: " + JSON. */
  static ByteString chatReference(String id, long created, String model, String field, String text, boolean usage) {
    ObjectNode chunk = Json.object().put("id", id).put("object", "chat.completion.chunk").put("created", created)
        .put("model", model);
    chunk.putArray("choices").addObject().put("index", 0).<ObjectNode>set("delta", Json.object().put(field, text))
        .putNull("logprobs").put("finish_reason", (String) null);
    if (usage) {
      chunk.putNull("usage");
    }
    return ByteString.fromString("data: " + Json.text(chunk) + "\n\n");
  }

  /** How a Responses event was written: its tree, then its event line and "data: " + JSON. */
  static ByteString responsesReference(ObjectNode data) {
    return ByteString.fromString("event: " + data.get("type").textValue() + "\ndata: " + Json.text(data) + "\n\n");
  }

  @Test
  void aFilledTemplateIsTheEventItsTreeWrites() {
    for (String text : TEXTS) {
      for (int number : new int[] {0, 7, 12345, Integer.MAX_VALUE}) {
        SseTemplate template = new SseTemplate(Sse.text("t", event(SseTemplate.TEXT).put("n", SseTemplate.NUMBER)));
        assertEquals(responsesReference(event(text).put("n", number)), template.fill(text, number), text);
      }
    }
  }

  static ObjectNode event(String text) {
    ObjectNode event = Json.object().put("type", "t").put("id", "x").put("text", text);
    event.putArray("list");
    return event;
  }

  @Test
  void chatDeltasAreWhatTheirTreesWrite() {
    for (boolean usage : new boolean[] {false, true}) {
      String id = "chatcmpl-abc";
      ChatStream chat = new ChatStream("resp_abc", 1700000000L, "requested", true, usage);
      chat.on(new TurnEvent.Started("t1", "local/m1"));
      // Each model, the one with the placeholder in its name too, gets chunks of its own.
      for (String model : List.of("local/m1", "mödel \"two\" / " + SseTemplate.TEXT, "local/m3")) {
        if (!model.equals("local/m1")) {
          chat.on(new TurnEvent.ModelSwitched("before", model, "error", false));
        }
        for (String text : TEXTS) {
          assertEquals(List.of(chatReference(id, 1700000000L, model, "content", text, usage)),
              chat.on(new TurnEvent.TextDelta(text)), text);
          assertEquals(List.of(chatReference(id, 1700000000L, model, "reasoning_content", text, usage)),
              chat.on(new TurnEvent.ReasoningDelta(text)), text);
        }
      }
    }
  }

  @Test
  void responsesDeltasAreWhatTheirTreesWrite() {
    ResponsesStream stream = new ResponsesStream(new ResponsesStream.Shape(
        "resp_0123456789abcdef0123456789abcdef", "session", 1700000000L, "requested", Json.object(), true));
    List<ResponsesStream.Frame> frames = new ArrayList<>(stream.on(new TurnEvent.Started("t1", "local/m1")));
    for (int round = 0; round < 2; round++) {
      for (String text : TEXTS) {
        frames.addAll(stream.on(new TurnEvent.TextDelta(text)));
      }
      for (String text : TEXTS) {
        frames.addAll(stream.on(new TurnEvent.ReasoningDelta(text)));
      }
    }
    String itemId = null;
    int outputIndex = -1;
    int deltas = 0;
    for (int i = 0; i < frames.size(); i++) {
      ResponsesStream.Frame frame = frames.get(i);
      assertEquals(i, frame.sequence());
      if (frame instanceof ResponsesStream.JsonFrame json) {
        assertEquals(responsesReference(json.data()), json.sse());
        if (json.type().equals("response.output_item.added")) {
          itemId = json.data().get("item").get("id").textValue();
          outputIndex = json.data().get("output_index").intValue();
        }
      } else {
        ResponsesStream.DeltaFrame delta = (ResponsesStream.DeltaFrame) frame;
        boolean message = itemId.startsWith("msg_");
        ObjectNode data = Json.object().put("type", message ? "response.output_text.delta" : "response.reasoning_text.delta")
            .put("item_id", itemId).put("output_index", outputIndex).put("content_index", 0).put("delta", delta.text());
        if (message) {
          data.putArray("logprobs");
        }
        assertEquals(responsesReference(data.put("sequence_number", i)), delta.sse(), delta.text());
        deltas++;
      }
    }
    assertEquals(4 * TEXTS.size(), deltas);
    assertTrue(outputIndex >= 3, "a new item each time the kind changes");
  }
}
