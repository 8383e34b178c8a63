package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.http.StreamResponse;
import com.openai.helpers.ChatCompletionAccumulator;
import com.openai.helpers.ResponseAccumulator;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.responses.Response;
import com.openai.models.responses.ResponseCreateParams;
import com.openai.models.responses.ResponseStreamEvent;
import dev.talon.conversation.TurnResult;
import dev.talon.testing.ErrorBodies;
import dev.talon.testing.Script;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A client that knows nothing of Talon's markers (the official SDK's stream helpers, or plain
 * concatenation of text deltas) across a retry after visible text and a failover after visible
 * text: what it assembles is exactly the journaled answer, on both APIs.
 */
class MidStreamFailoverTest {
  static final String ANSWER = "SUMMARY: the user asked about failover.";

  /**
   * {@code local/a} streams three tokens and breaks; its retry goes on for two and breaks; the
   * fallback {@code backup/b} finishes. Each continuation scripts only what follows.
   */
  static void breakTwiceThenFinish(TalonApi node) {
    node.fake.enqueue(Script.reply("SUMMARY: the user").dropAfter(3), Script.reply(" user asked about").dropAfter(2),
        Script.reply(" about failover."));
  }

  static final List<TurnResult.Part> PARTS = List.of(new TurnResult.Part("local/a", 0, 12),
      new TurnResult.Part("local/a", 12, 23), new TurnResult.Part("backup/b", 23, 39));

  static OpenAIClient client(TalonApi node) {
    return OpenAIOkHttpClient.builder().baseUrl(node.baseUrl()).apiKey(TalonApi.TOKEN).maxRetries(0).build();
  }

  @Test
  void responsesAGenericClientAssemblesTheJournaledAnswer(@TempDir Path data) throws Exception {
    // A node of its own: the failed primary's cooldown must not reach other tests.
    try (TalonApi node = TalonApi.start(data)) {
      OpenAIClient client = client(node);
      breakTwiceThenFinish(node);
      ResponseAccumulator accumulator = ResponseAccumulator.create();
      StringBuilder deltas = new StringBuilder();
      List<String> itemStatuses = new ArrayList<>();
      try (StreamResponse<ResponseStreamEvent> stream = client.responses().createStreaming(
          ResponseCreateParams.builder().model("openclaw").input("Summarize").build())) {
        stream.stream().forEach(event -> {
          accumulator.accumulate(event);
          event.outputTextDelta().ifPresent(delta -> deltas.append(delta.delta()));
          event.outputItemDone().ifPresent(done -> done.item().message()
              .ifPresent(message -> itemStatuses.add(message.status().asString())));
        });
      }
      Response response = accumulator.response();
      TurnResult journaled = node.transcript(OpenAiSdkTest.sessionOf(response)).turns().get(0).result();
      assertEquals(ANSWER, journaled.text());
      assertEquals(ANSWER, deltas.toString(), "the text deltas, concatenated");
      assertEquals(ANSWER, OpenAiSdkTest.text(response), "the accumulated response.completed");
      assertEquals(List.of("completed"), itemStatuses, "one message, never ended as incomplete");
      assertEquals("backup/b", response.model().asString());
      assertEquals(PARTS, journaled.parts());
      client.close();
    }
  }

  @Test
  void chatAGenericClientAssemblesTheJournaledAnswer(@TempDir Path data) throws Exception {
    try (TalonApi node = TalonApi.start(data)) {
      OpenAIClient client = client(node);
      breakTwiceThenFinish(node);
      ChatCompletionAccumulator accumulator = ChatCompletionAccumulator.create();
      StringBuilder deltas = new StringBuilder();
      try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(
          ChatCompletionCreateParams.builder().model("openclaw").addUserMessage("Summarize")
              .putAdditionalHeader(TurnRequest.SESSION_HEADER, "chat-continued").build())) {
        stream.stream().forEach(chunk -> {
          accumulator.accumulate(chunk);
          chunk.choices().forEach(choice -> choice.delta().content().ifPresent(deltas::append));
        });
      }
      TurnResult journaled = node.transcript("chat-continued").turns().get(0).result();
      assertEquals(ANSWER, journaled.text());
      assertEquals(ANSWER, deltas.toString(), "the text deltas, concatenated");
      assertEquals(ANSWER, accumulator.chatCompletion().choices().get(0).message().content().orElseThrow(),
          "the accumulated chat completion");
      assertEquals(PARTS, journaled.parts());
      client.close();
    }
  }
}
