package dev.talon.upstream;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.talon.config.Api;
import dev.talon.upstream.ModelEvent.FinishReason;
import dev.talon.upstream.ModelEvent.ReasoningDelta;
import dev.talon.upstream.ModelEvent.TextDelta;
import dev.talon.upstream.ModelEvent.ToolCall;
import dev.talon.upstream.UpstreamFailure.Kind;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/** The parsing rules of protocols.md §0 and §3.6, each on a small inline stream. */
class StreamParserRulesTest {
  static final ActorTestKit testKit = ActorTestKit.create();

  @AfterAll
  static void shutdown() {
    testKit.shutdownTestKit();
  }

  static ParsedStream responses(String body) throws Exception {
    return ParsedStream.of(testKit.system(), body, Api.OPENAI_RESPONSES);
  }

  static ParsedStream chat(String body) throws Exception {
    return ParsedStream.of(testKit.system(), body, Api.OPENAI_COMPLETIONS);
  }

  static String data(String... frames) {
    StringBuilder out = new StringBuilder();
    for (String frame : frames) {
      out.append("data: ").append(frame).append("\n\n");
    }
    return out.toString();
  }

  static final String COMPLETED = "{\"type\":\"response.completed\",\"response\":{\"output\":[],"
      + "\"usage\":{\"input_tokens\":3,\"output_tokens\":2}}}";

  @Nested
  class Responses {
    @Test
    void dataOnlyFramesDispatchOnTheJsonType() throws Exception {
      ParsedStream s = responses(data("{\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}", COMPLETED, "[DONE]"));
      assertEquals("Hi", s.text());
      assertEquals(new ModelEvent.Usage(3, 2, 0, 0), s.usage());
      assertEquals(FinishReason.STOP, s.completed().reason());
    }

    @Test
    void theSseEventNameIsNotTrusted() throws Exception {
      ParsedStream s = responses("event: message\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"A\"}\n\n"
          + ": keep-alive comment\n\nid: 7\nretry: 10\nevent: whatever\ndata: " + COMPLETED + "\n\n");
      assertEquals("A", s.text());
      assertEquals(FinishReason.STOP, s.completed().reason());
    }

    @Test
    void endOfStreamWithoutATerminalEventIsTruncated() throws Exception {
      assertEquals(Kind.TRUNCATED, responses(data("{\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}"))
          .failureKind());
      assertEquals(Kind.TRUNCATED, responses(data("{\"type\":\"response.output_text.delta\",\"delta\":\"Hi\"}", "[DONE]"))
          .failureKind());
    }

    @Test
    void unknownEventTypesAreIgnored() throws Exception {
      ParsedStream s = responses(data("{\"type\":\"response.reasoning_part.added\",\"part\":{}}",
          "{\"type\":\"response.web_search_call.searching\"}", COMPLETED));
      assertEquals(List.of(new ModelEvent.Usage(3, 2, 0, 0), new ModelEvent.Completed(FinishReason.STOP)), s.events());
    }

    @Test
    void argumentsInManyDeltasWithChangingIds() throws Exception {
      ParsedStream s = responses(data(
          "{\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\",\"name\":\"f\",\"arguments\":\"\"}}",
          "{\"type\":\"response.function_call_arguments.delta\",\"output_index\":0,\"item_id\":\"x1\",\"delta\":\"{\\\"a\\\":\"}",
          "{\"type\":\"response.function_call_arguments.delta\",\"output_index\":0,\"item_id\":\"x2\",\"delta\":\"1}\"}",
          "{\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"type\":\"function_call\",\"id\":\"x3\",\"call_id\":\"call_1\",\"name\":\"f\"}}",
          "{\"type\":\"response.completed\",\"response\":{\"output\":[{\"type\":\"function_call\",\"id\":\"other\",\"call_id\":\"call_1\",\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}]}}"));
      assertEquals(List.of(new ToolCall("call_1", "f", "{\"a\":1}")), s.toolCalls());
      assertEquals(FinishReason.TOOL_CALLS, s.completed().reason());
    }

    @Test
    void argumentsOnlyInTheCompletedResponse() throws Exception {
      ParsedStream s = responses(data(
          "{\"type\":\"response.completed\",\"response\":{\"output\":[{\"type\":\"function_call\",\"call_id\":\"c9\",\"name\":\"g\",\"arguments\":\"{}\"}]}}"));
      assertEquals(List.of(new ToolCall("c9", "g", "{}")), s.toolCalls());
    }

    @Test
    void deltasBeforeOutputItemAddedAndItemsClosingOutOfOrder() throws Exception {
      ParsedStream s = responses(data(
          "{\"type\":\"response.output_text.delta\",\"output_index\":1,\"delta\":\"answer\"}",
          "{\"type\":\"response.reasoning_text.delta\",\"output_index\":0,\"delta\":\"think\"}",
          "{\"type\":\"response.output_item.done\",\"output_index\":1,\"item\":{\"type\":\"message\"}}",
          "{\"type\":\"response.output_item.done\",\"output_index\":0,\"item\":{\"type\":\"reasoning\"}}",
          COMPLETED));
      assertEquals("answer", s.text());
      assertEquals("think", s.reasoning());
    }

    @Test
    void reasoningAliasesAreReasoningNotText() throws Exception {
      ParsedStream s = responses(data("{\"type\":\"response.reasoning.delta\",\"delta\":\"a\"}",
          "{\"type\":\"response.reasoning_summary_text.delta\",\"delta\":\"b\"}",
          "{\"type\":\"response.reasoning_text.delta\",\"delta\":\"c\"}", COMPLETED));
      assertEquals("abc", s.reasoning());
      assertEquals("", s.text());
    }

    @Test
    void flatAndNestedErrorEvents() throws Exception {
      assertEquals(Kind.RATE_LIMIT, responses(data(
          "{\"type\":\"error\",\"code\":\"rate_limit_exceeded\",\"message\":\"Rate limit reached\"}")).failureKind());
      assertEquals(Kind.SERVER_ERROR, responses(data(
          "{\"type\":\"error\",\"error\":{\"type\":\"server_error\",\"message\":\"boom\"}}")).failureKind());
      assertEquals(Kind.CONTEXT_OVERFLOW, responses(data("{\"type\":\"response.failed\",\"response\":{\"status\":\"failed\","
          + "\"error\":{\"code\":\"context_length_exceeded\",\"message\":\"Your input exceeds the context window\"}}}"))
          .failureKind());
      assertEquals(Kind.SERVER_ERROR, responses(data(
          "{\"error\":{\"code\":500,\"message\":\"llama.cpp died\",\"type\":\"server_error\"}}")).failureKind());
    }

    @Test
    void incompleteResponsesCompleteWithTheirReason() throws Exception {
      assertEquals(FinishReason.LENGTH, responses(data("{\"type\":\"response.incomplete\",\"response\":"
          + "{\"incomplete_details\":{\"reason\":\"max_output_tokens\"}}}")).completed().reason());
      assertEquals(FinishReason.CONTENT_FILTER, responses(data("{\"type\":\"response.incomplete\",\"response\":"
          + "{\"incomplete_details\":{\"reason\":\"content_filter\"}}}")).completed().reason());
    }
  }

  @Nested
  class Chat {
    static String content(String text) {
      return "{\"choices\":[{\"index\":0,\"delta\":{\"content\":" + UpstreamJson.MAPPER.valueToTree(text) + "}}]}";
    }

    static final String STOP = "{\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}";

    @Test
    void doneAfterTheFinishChunkCompletes() throws Exception {
      ParsedStream s = chat(data(content("Hel"), content("lo"), STOP, "[DONE]"));
      assertEquals("Hello", s.text());
      assertEquals(FinishReason.STOP, s.completed().reason());
    }

    @Test
    void endOfStreamBeforeAnyFinishIsTruncated() throws Exception {
      assertEquals(Kind.TRUNCATED, chat(data(content("Hel"))).failureKind());
    }

    @Test
    void usageAfterTheFinishChunkIsKept() throws Exception {
      ParsedStream s = chat(data(content("x"), STOP, "{\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,"
          + "\"prompt_tokens_details\":{\"cached_tokens\":4},\"completion_tokens_details\":{\"reasoning_tokens\":0}}}"));
      assertEquals(new ModelEvent.Usage(5, 1, 4, 0), s.usage());
      assertEquals(FinishReason.STOP, s.completed().reason());
    }

    @Test
    void toolCallsByIndexStartingAtOneSparseAndWhole() throws Exception {
      ParsedStream s = chat(data(
          "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"a\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\"\"}}]}}]}",
          "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":3,\"id\":\"b\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}}]}",
          "{\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"name\":\"\",\"arguments\":\":1}\"}}]}}]}",
          "{\"choices\":[{\"delta\":{},\"finish_reason\":\"tool_calls\"}]}", "[DONE]"));
      assertEquals(List.of(new ToolCall("a", "f", "{\"x\":1}"), new ToolCall("b", "g", "{}")), s.toolCalls());
      assertEquals(FinishReason.TOOL_CALLS, s.completed().reason());
    }

    @Test
    void eachReasoningField() throws Exception {
      for (String field : new String[] {"reasoning_content", "reasoning"}) {
        ParsedStream s = chat(data("{\"choices\":[{\"delta\":{\"" + field + "\":\"hmm\"}}]}", content("ok"), STOP));
        assertEquals("hmm", s.reasoning(), field);
        assertEquals("ok", s.text(), field);
      }
      ParsedStream details = chat(data(
          "{\"choices\":[{\"delta\":{\"reasoning_details\":[{\"type\":\"reasoning.text\",\"text\":\"deep\"}]}}]}", STOP));
      assertEquals("deep", details.reasoning());
    }

    @Test
    void anErrorInAnyChunkFailsEvenWithChoices() throws Exception {
      assertEquals(Kind.RATE_LIMIT, chat(data(content("a"),
          "{\"error\":{\"message\":\"litellm.RateLimitError: slow down\",\"type\":\"None\",\"param\":\"None\",\"code\":\"429\"}}"))
          .failureKind());
    }

    @Test
    void inlineThinkTagsSplitAcrossChunks() throws Exception {
      ParsedStream s = chat(data(content("<thi"), content("nk>plan"), content(" it</th"), content("ink>\n\nDone."), STOP));
      assertEquals("plan it", s.reasoning());
      assertEquals("Done.", s.text());
    }

    @Test
    void noTagParsingOnceASeparateReasoningFieldWasSeen() throws Exception {
      ParsedStream s = chat(data("{\"choices\":[{\"delta\":{\"reasoning_content\":\"r\"}}]}",
          content("<think>literal</think>"), STOP));
      assertEquals("r", s.reasoning());
      assertEquals("<think>literal</think>", s.text());
    }
  }

  @Nested
  class ThinkTags {
    static List<ModelEvent> split(String... chunks) {
      ThinkTagSplitter splitter = new ThinkTagSplitter(true);
      List<ModelEvent> out = new ArrayList<>();
      for (String chunk : chunks) {
        out.addAll(splitter.accept(chunk));
      }
      out.addAll(splitter.flush());
      return merge(out);
    }

    /** Consecutive deltas of one kind joined, so assertions do not depend on chunking. */
    static List<ModelEvent> merge(List<ModelEvent> events) {
      List<ModelEvent> out = new ArrayList<>();
      for (ModelEvent e : events) {
        ModelEvent last = out.isEmpty() ? null : out.get(out.size() - 1);
        if (last instanceof TextDelta a && e instanceof TextDelta b) {
          out.set(out.size() - 1, new TextDelta(a.text() + b.text()));
        } else if (last instanceof ReasoningDelta a && e instanceof ReasoningDelta b) {
          out.set(out.size() - 1, new ReasoningDelta(a.text() + b.text()));
        } else {
          out.add(e);
        }
      }
      return out;
    }

    /** Feeds one chunk: what it releases at once is asserted, anything else is being held back. */
    static void feed(ThinkTagSplitter splitter, String chunk, ModelEvent... released) {
      assertEquals(List.of(released), splitter.accept(chunk), chunk);
    }

    @Test
    void onlyWhatCouldStillOpenATagIsHeld() {
      ThinkTagSplitter plain = new ThinkTagSplitter(true);
      feed(plain, "Hello", new TextDelta("Hello"));
      feed(plain, " world", new TextDelta(" world"));
      ThinkTagSplitter tagLike = new ThinkTagSplitter(true);
      feed(tagLike, "\n<th");
      feed(tagLike, "ree> is a tag of mine", new TextDelta("\n<three> is a tag of mine"));
    }

    @Test
    void tagsAreOnlyReadAtTheStartOfAReply() {
      assertEquals(List.of(new TextDelta("I should greet.</think>\n\nHi! <think>no</think>")),
          split("I should", " greet.</th", "ink>\n\nHi! <think>no</think>"));
    }

    @Test
    void turnedOffEverythingIsText() {
      ThinkTagSplitter off = new ThinkTagSplitter(false);
      feed(off, "<think>", new TextDelta("<think>"));
      feed(off, "hmm</think>", new TextDelta("hmm</think>"));
    }

    @Test
    void openingAndClosingTags() {
      assertEquals(List.of(new ReasoningDelta("a < b"), new TextDelta("answer")),
          split("  <think>a < b</think>\n", "\nanswer"));
    }

    @Test
    void emptyThinkingBlock() {
      assertEquals(List.of(new TextDelta("Hi")), split("<think>\n\n</think>\n\nHi"));
    }

    @Test
    void unclosedThinkingIsReasoning() {
      assertEquals(List.of(new ReasoningDelta("still thinking")), split("<think>still thinking"));
    }

    @Test
    void textThatMerelyStartsLikeATagIsText() {
      assertEquals(List.of(new TextDelta("<thing> is not a tag")), split("<thi", "ng> is not a tag"));
    }
  }
}
