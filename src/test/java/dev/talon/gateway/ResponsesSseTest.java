package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.conversation.ConversationEntity.Status;
import dev.talon.testing.Script;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The Responses stream byte for byte: the event grammar of protocols.md §2.10 with
 * {@code event:} lines and sequence numbers, keep-alive comments, and a client that drops its
 * connection and resumes with {@code starting_after} without missing or repeating an event.
 */
class ResponsesSseTest extends OnANode {
  /** One SSE event as sent: its {@code event:} name and parsed {@code data:}. */
  record Event(String name, JsonNode data) {
    String type() {
      return data.path("type").asText();
    }

    int sequence() {
      return data.path("sequence_number").asInt(-1);
    }
  }

  /** An open stream, read event by event; comments are counted, not returned. */
  static final class Sse implements AutoCloseable {
    final HttpResponse<Stream<String>> response;
    final Iterator<String> lines;
    int comments;

    Sse(HttpResponse<Stream<String>> response) {
      this.response = response;
      this.lines = response.body().iterator();
    }

    Event next() throws Exception {
      String name = null;
      StringBuilder data = new StringBuilder();
      while (lines.hasNext()) {
        String line = lines.next();
        if (line.startsWith(":")) {
          comments++;
        } else if (line.startsWith("event: ")) {
          name = line.substring("event: ".length());
        } else if (line.startsWith("data: ")) {
          data.append(line.substring("data: ".length()));
        } else if (line.isEmpty() && !data.isEmpty()) {
          return new Event(name, TalonApi.JSON.readTree(data.toString()));
        }
      }
      return null;
    }

    List<Event> rest() throws Exception {
      List<Event> events = new ArrayList<>();
      for (Event e = next(); e != null; e = next()) {
        events.add(e);
      }
      return events;
    }

    @Override
    public void close() {
      response.body().close(); // closes the connection: the client is gone
    }
  }

  Sse open(HttpRequest request) throws Exception {
    HttpResponse<Stream<String>> response = api.http.sendAsync(request, HttpResponse.BodyHandlers.ofLines())
        .get(30, TimeUnit.SECONDS);
    assertEquals(200, response.statusCode());
    return new Sse(response);
  }

  Sse post(String json, String... headers) throws Exception {
    HttpRequest.Builder builder = api.request("/v1/responses").header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(json));
    for (int i = 0; i < headers.length; i += 2) {
      builder.header(headers[i], headers[i + 1]);
    }
    return open(builder.build());
  }

  static List<String> types(List<Event> events) {
    return events.stream().map(Event::type).toList();
  }

  static String deltas(List<Event> events) {
    StringBuilder text = new StringBuilder();
    events.stream().filter(e -> e.type().equals("response.output_text.delta"))
        .forEach(e -> text.append(e.data().path("delta").asText()));
    return text.toString();
  }

  /** Every event: {@code event:} equals {@code type}, and sequence numbers count 0, 1, 2… */
  static void assertFraming(List<Event> events, int firstSequence) {
    for (int i = 0; i < events.size(); i++) {
      assertEquals(events.get(i).type(), events.get(i).name(), "event: line of " + events.get(i).data());
      assertEquals(firstSequence + i, events.get(i).sequence(), "sequence_number of " + events.get(i).data());
    }
  }

  @Test
  void aTextAnswerFollowsTheGrammar() throws Exception {
    api.fake.enqueue(Script.reply("Hello there, world.").usage(10, 4));
    List<Event> events;
    try (Sse sse = post("{\"model\":\"openclaw\",\"input\":\"Hi\",\"stream\":true}")) {
      assertTrue(sse.response.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"));
      assertEquals("no-cache", sse.response.headers().firstValue("cache-control").orElse(""));
      events = sse.rest();
    }
    assertFraming(events, 0);
    List<String> types = types(events);
    int deltas = (int) types.stream().filter(t -> t.equals("response.output_text.delta")).count();
    assertTrue(deltas > 1, "streamed in several deltas: " + types);
    List<String> expected = new ArrayList<>(List.of("response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added"));
    for (int i = 0; i < deltas; i++) {
      expected.add("response.output_text.delta");
    }
    expected.addAll(List.of("response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.completed"));
    assertEquals(expected, types);

    JsonNode created = events.get(0).data().path("response");
    assertEquals("in_progress", created.path("status").asText());
    String itemId = events.get(2).data().path("item").path("id").asText();
    events.stream().filter(e -> e.type().startsWith("response.output_text") || e.type().startsWith("response.content"))
        .forEach(e -> assertEquals(itemId, e.data().path("item_id").asText()));
    assertEquals("Hello there, world.", deltas(events));
    assertEquals("Hello there, world.", events.get(events.size() - 4).data().path("text").asText());
    JsonNode completed = events.get(events.size() - 1).data().path("response");
    assertEquals(created.path("id"), completed.path("id"));
    assertEquals("completed", completed.path("status").asText());
    assertEquals("local/a", completed.path("model").asText());
    assertEquals(events.get(events.size() - 2).data().path("item"), completed.path("output").path(0),
        "the completed response's output is the list of output_item.done items");
    assertEquals(10, completed.path("usage").path("input_tokens").asInt());
    assertEquals(4, completed.path("usage").path("output_tokens").asInt());
    assertTrue(created.path("usage").isNull());

    HttpResponse<String> stored = api.get("/v1/responses/" + completed.path("id").asText());
    assertEquals(200, stored.statusCode());
    JsonNode storedResponse = TalonApi.json(stored);
    assertEquals(completed.path("output"), storedResponse.path("output"));
    assertEquals("completed", storedResponse.path("status").asText());
  }

  @Test
  void reasoningIsSentOnlyToClientsThatAskForIt() throws Exception {
    api.fake.enqueue(Script.reply("The answer.").reasoning("Let me think."), Script.reply("The answer.")
        .reasoning("Let me think."));
    List<Event> plain;
    try (Sse sse = post("{\"input\":\"Why?\",\"stream\":true}")) {
      plain = sse.rest();
    }
    assertTrue(types(plain).stream().noneMatch(t -> t.contains("reasoning")), types(plain).toString());
    assertEquals("The answer.", deltas(plain));

    List<Event> asked;
    try (Sse sse = post("{\"input\":\"Why?\",\"stream\":true,\"reasoning\":{\"summary\":\"auto\"}}")) {
      asked = sse.rest();
    }
    assertFraming(asked, 0);
    assertEquals("reasoning", asked.get(2).data().path("item").path("type").asText());
    StringBuilder reasoning = new StringBuilder();
    asked.stream().filter(e -> e.type().equals("response.reasoning_text.delta"))
        .forEach(e -> reasoning.append(e.data().path("delta").asText()));
    assertEquals("Let me think.", reasoning.toString());
    assertEquals("The answer.", deltas(asked));
    JsonNode output = asked.get(asked.size() - 1).data().path("response").path("output");
    assertEquals(List.of("reasoning", "message"), List.of(output.path(0).path("type").asText(),
        output.path(1).path("type").asText()));
  }

  @Test
  void aFunctionCallIsOneItemWithItsArguments() throws Exception {
    api.fake.enqueue(Script.reply().toolCall("lookup", "{\"q\":\"pekko\"}"));
    List<Event> events;
    try (Sse sse = post("{\"input\":\"Look it up\",\"stream\":true,\"tools\":[{\"type\":\"function\","
        + "\"name\":\"lookup\",\"parameters\":{\"type\":\"object\"}}]}")) {
      events = sse.rest();
    }
    assertFraming(events, 0);
    assertEquals(List.of("response.created", "response.in_progress", "response.output_item.added",
        "response.function_call_arguments.delta", "response.function_call_arguments.done",
        "response.output_item.done", "response.completed"), types(events));
    JsonNode item = events.get(5).data().path("item");
    assertEquals("function_call", item.path("type").asText());
    assertEquals("lookup", item.path("name").asText());
    assertEquals("{\"q\":\"pekko\"}", item.path("arguments").asText());
    assertEquals("{\"q\":\"pekko\"}", events.get(4).data().path("arguments").asText());
  }

  @Test
  void keepAliveCommentsFlowWhileAColdModelLoads() throws Exception {
    api.fake.enqueue(Script.reply("Finally awake.").firstTokenDelay(Duration.ofMillis(1500)));
    try (Sse sse = post("{\"input\":\"Wake up\",\"stream\":true}")) {
      assertEquals("response.created", sse.next().type());
      assertEquals("response.in_progress", sse.next().type());
      Event first = sse.next();
      assertEquals("response.output_item.added", first.type());
      assertTrue(sse.comments >= 2, "keep-alive comments before the first token: " + sse.comments);
      assertEquals("Finally awake.", deltas(sse.rest()));
    }
  }

  @Test
  void aClientThatDropsItsConnectionResumesAfterTheLastEventItSaw() throws Exception {
    api.fake.enqueue(Script.reply("one two three four five six seven eight nine ten")
        .tokenDelay(Duration.ofMillis(100)));
    List<Event> before = new ArrayList<>();
    try (Sse sse = post("{\"input\":\"Count\",\"stream\":true}", "x-talon-session-key", "resume-1")) {
      while (before.size() < 7) {
        before.add(sse.next());
      }
    } // the connection is closed mid-turn; the turn goes on
    String id = before.get(0).data().path("response").path("id").asText();
    int last = before.get(before.size() - 1).sequence();

    List<Event> after;
    try (Sse sse = open(api.request("/v1/responses/" + id + "?stream=true&starting_after=" + last).GET().build())) {
      after = sse.rest();
    }
    assertEquals(last + 1, after.get(0).sequence(), "resumes right after the last event seen");
    assertFraming(after, last + 1);
    List<Event> whole = new ArrayList<>(before);
    whole.addAll(after);
    assertFraming(whole, 0);
    assertEquals("one two three four five six seven eight nine ten", deltas(whole));
    assertEquals("response.completed", whole.get(whole.size() - 1).type());
    assertEquals(Status.COMPLETED, api.transcript("resume-1").turns().get(0).status());
  }

  @Test
  void aFinishedResponseCanBeStreamedAgainFromTheStart() throws Exception {
    api.fake.enqueue(Script.reply("Already done."));
    List<Event> live;
    try (Sse sse = post("{\"input\":\"Quick\",\"stream\":true}")) {
      live = sse.rest();
    }
    String id = live.get(0).data().path("response").path("id").asText();
    List<Event> replayed;
    try (Sse sse = open(api.request("/v1/responses/" + id + "?stream=true").GET().build())) {
      replayed = sse.rest();
    }
    assertEquals(types(live), types(replayed));
    assertEquals("Already done.", deltas(replayed));
  }

  @Test
  void aRunningResponseCanBeCancelled() throws Exception {
    api.fake.enqueue(Script.reply("this would take a long long time to say").tokenDelay(Duration.ofMillis(300)));
    try (Sse sse = post("{\"input\":\"Talk\",\"stream\":true}", "x-talon-session-key", "cancel-1")) {
      String id = sse.next().data().path("response").path("id").asText();
      HttpResponse<String> cancelled = api.post("/v1/responses/" + id + "/cancel", "");
      assertEquals(200, cancelled.statusCode(), cancelled.body());
      assertEquals("cancelled", TalonApi.json(cancelled).path("status").asText());
      List<Event> rest = sse.rest();
      Event last = rest.get(rest.size() - 1);
      assertEquals("response.failed", last.type());
      assertEquals("cancelled", last.data().path("response").path("status").asText());
      assertFalse(types(rest).contains("error"), "a cancel is not an error");
    }
    assertEquals(Status.FAILED, api.transcript("cancel-1").turns().get(0).status());
  }
}
