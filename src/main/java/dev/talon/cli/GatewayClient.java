package dev.talon.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Iterator;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Talon's public HTTP API as any client sees it: the terminal chat talks to a running gateway
 * through it, exactly as an OpenAI SDK would, so what it shows is what clients get.
 */
final class GatewayClient {
  static final String SESSION_HEADER = "x-talon-session-key";
  private static final ObjectMapper JSON = new ObjectMapper();

  /** What a streamed turn tells its reader, in order. */
  interface Events {
    void started(String responseId);

    void reasoning(String delta);

    void text(String delta);

    /** A compaction of the conversation began ({@code done} false) or ended. */
    void compaction(boolean done, JsonNode event);

    /** An MCP tool call that Talon ran, or refused, ended: its {@code mcp_call} item. */
    void toolCall(JsonNode item);

    /** An MCP tool call waits for a person: the event names it, and where to answer. */
    void approvalRequired(JsonNode event);

    /** The turn ended; {@code response} is the final Responses object (completed, failed, cancelled). */
    void ended(JsonNode response);
  }

  private final HttpClient http;
  private final String baseUrl;
  private final Optional<String> token;

  GatewayClient(String baseUrl, Optional<String> token, Duration connectTimeout) {
    this.baseUrl = baseUrl.replaceAll("/+$", "");
    this.token = token;
    this.http = HttpClient.newBuilder().connectTimeout(connectTimeout).build();
  }

  String baseUrl() {
    return baseUrl;
  }

  /**
   * Sends {@code text} as the next turn of conversation {@code session} and streams its events.
   *
   * @param model a model ref or alias, or null for the agent's primary
   */
  void turn(String session, String model, String text, Events events) throws IOException, InterruptedException {
    ObjectNode body = JSON.createObjectNode().put("input", text).put("stream", true);
    if (model != null) {
      body.put("model", model);
    }
    body.putObject("reasoning").put("summary", "auto"); // shown apart, when the model gives it
    HttpResponse<Stream<String>> response = http.send(request("/v1/responses").header(SESSION_HEADER, session)
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build(), HttpResponse.BodyHandlers.ofLines());
    if (response.statusCode() != 200) {
      String error;
      try (Stream<String> lines = response.body()) {
        error = String.join("\n", lines.toList());
      }
      throw new IOException(problem(response.statusCode(), error));
    }
    try (Stream<String> lines = response.body()) {
      String event = null;
      for (Iterator<String> it = lines.iterator(); it.hasNext(); ) {
        String line = it.next();
        if (line.startsWith("event: ")) {
          event = line.substring("event: ".length());
        } else if (line.startsWith("data: ") && event != null) {
          dispatch(event, JSON.readTree(line.substring("data: ".length())), events);
        }
      }
    }
  }

  private static void dispatch(String event, JsonNode data, Events events) {
    switch (event) {
      case "response.created" -> events.started(data.path("response").path("id").asText());
      case "response.reasoning_text.delta", "response.reasoning_summary_text.delta" ->
          events.reasoning(data.path("delta").asText());
      case "response.output_text.delta" -> events.text(data.path("delta").asText());
      case "talon.compaction.started" -> events.compaction(false, data);
      case "talon.compaction.completed" -> events.compaction(true, data);
      case "talon.approval_required" -> events.approvalRequired(data);
      case "response.output_item.done" -> {
        if (data.path("item").path("type").asText().equals("mcp_call")) {
          events.toolCall(data.path("item"));
        }
      }
      case "response.completed", "response.incomplete", "response.failed" -> events.ended(data.path("response"));
      default -> { } // the rest repeats what the deltas said (an error event, what the failed response says)
    }
  }

  /** The conversation's turns numbered after {@code after}, at most {@code limit}; empty for a new key. */
  JsonNode turns(String session, int after, int limit) throws IOException, InterruptedException {
    HttpResponse<String> response = http.send(request("/v1/conversations/" + encode(session) + "?after=" + after
        + "&limit=" + limit).GET().build(), HttpResponse.BodyHandlers.ofString());
    if (response.statusCode() == 404) {
      return JSON.createObjectNode().put("turn_count", 0).set("turns", JSON.createArrayNode());
    }
    return checked(response);
  }

  /** Compacts the conversation now; the answer says how it went. */
  JsonNode compact(String session) throws IOException, InterruptedException {
    return checked(http.send(request("/v1/conversations/" + encode(session) + "/compact")
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString("{}")).build(),
        HttpResponse.BodyHandlers.ofString()));
  }

  /** Cancels a running response; one that already ended is left as it is. */
  void cancel(String responseId) throws IOException, InterruptedException {
    http.send(request("/v1/responses/" + encode(responseId) + "/cancel").POST(HttpRequest.BodyPublishers.noBody())
        .build(), HttpResponse.BodyHandlers.discarding());
  }

  private HttpRequest.Builder request(String path) {
    HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(baseUrl + path));
    token.ifPresent(value -> request.header("Authorization", "Bearer " + value));
    return request;
  }

  private JsonNode checked(HttpResponse<String> response) throws IOException {
    if (response.statusCode() / 100 != 2) {
      throw new IOException(problem(response.statusCode(), response.body()));
    }
    return JSON.readTree(response.body());
  }

  /** The OpenAI-style error's message, else the body as it came. */
  private static String problem(int status, String body) {
    try {
      JsonNode message = JSON.readTree(body).path("error").path("message");
      return status + ": " + (message.isTextual() ? message.asText() : body);
    } catch (IOException e) {
      return status + ": " + body;
    }
  }

  private static String encode(String segment) {
    return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
  }
}
