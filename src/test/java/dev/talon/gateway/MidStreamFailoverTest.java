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
import dev.talon.testing.Script;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A client that knows nothing of Talon's markers (the official SDK's stream helpers, or plain
 * concatenation of text deltas) across a retry after visible text and a failover after visible
 * text: what it assembles is exactly the journaled answer, on both APIs.
 */
class MidStreamFailoverTest {
  static final String ANSWER = "SUMMARY: the user asked about failover.";

  static final List<TurnResult.Part> PARTS = List.of(new TurnResult.Part("local/a", 0, 12),
      new TurnResult.Part("local/a", 12, 23), new TurnResult.Part("backup/b", 23, 39));

  /**
   * On a node of its own (the failed primary's cooldown must not reach other tests), runs one turn
   * through {@code turn}, given a client and the session key to send, and returns what the
   * journal kept. {@code local/a} streams three tokens and breaks; its retry goes on for two and
   * breaks; the fallback {@code backup/b} finishes. Each continuation scripts only what follows.
   */
  static TurnResult breakTwiceThenFinish(Path data, BiConsumer<OpenAIClient, String> turn) throws Exception {
    try (TalonApi node = TalonApi.start(data)) {
      node.fake.enqueue(Script.reply("SUMMARY: the user").dropAfter(3),
          Script.reply(" user asked about").dropAfter(2), Script.reply(" about failover."));
      OpenAIClient client = OpenAIOkHttpClient.builder().baseUrl(node.baseUrl()).apiKey(TalonApi.TOKEN).maxRetries(0)
          .build();
      turn.accept(client, "continued");
      client.close();
      return node.transcript("continued").turns().get(0).result();
    }
  }

  @Test
  void responsesAGenericClientAssemblesTheJournaledAnswer(@TempDir Path data) throws Exception {
    ResponseAccumulator accumulator = ResponseAccumulator.create();
    StringBuilder deltas = new StringBuilder();
    List<String> itemStatuses = new ArrayList<>();
    TurnResult journaled = breakTwiceThenFinish(data, (client, session) -> {
      try (StreamResponse<ResponseStreamEvent> stream = client.responses().createStreaming(
          ResponseCreateParams.builder().model("openclaw").input("Summarize")
              .putAdditionalHeader(TurnRequest.SESSION_HEADER, session).build())) {
        stream.stream().forEach(event -> {
          accumulator.accumulate(event);
          event.outputTextDelta().ifPresent(delta -> deltas.append(delta.delta()));
          event.outputItemDone().ifPresent(done -> done.item().message()
              .ifPresent(message -> itemStatuses.add(message.status().asString())));
        });
      }
    });
    Response response = accumulator.response();
    assertEquals(ANSWER, journaled.text());
    assertEquals(ANSWER, deltas.toString(), "the text deltas, concatenated");
    assertEquals(ANSWER, OpenAiSdkTest.text(response), "the accumulated response.completed");
    assertEquals(List.of("completed"), itemStatuses, "one message, never ended as incomplete");
    assertEquals("backup/b", response.model().asString());
    assertEquals(PARTS, journaled.parts());
  }

  @Test
  void chatAGenericClientAssemblesTheJournaledAnswer(@TempDir Path data) throws Exception {
    ChatCompletionAccumulator accumulator = ChatCompletionAccumulator.create();
    StringBuilder deltas = new StringBuilder();
    TurnResult journaled = breakTwiceThenFinish(data, (client, session) -> {
      try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(
          ChatCompletionCreateParams.builder().model("openclaw").addUserMessage("Summarize")
              .putAdditionalHeader(TurnRequest.SESSION_HEADER, session).build())) {
        stream.stream().forEach(chunk -> {
          accumulator.accumulate(chunk);
          chunk.choices().forEach(choice -> choice.delta().content().ifPresent(deltas::append));
        });
      }
    });
    assertEquals(ANSWER, journaled.text());
    assertEquals(ANSWER, deltas.toString(), "the text deltas, concatenated");
    assertEquals(ANSWER, accumulator.chatCompletion().choices().get(0).message().content().orElseThrow(),
        "the accumulated chat completion");
    assertEquals(PARTS, journaled.parts());
  }
}
