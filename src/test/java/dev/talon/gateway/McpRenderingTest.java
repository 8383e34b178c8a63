package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.cluster.JournalTranscripts;
import dev.talon.conversation.ConversationEntity.Context;
import dev.talon.conversation.ConversationEntity.Failure;
import dev.talon.conversation.ConversationEntity.Status;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.conversation.InputItem;
import dev.talon.conversation.OutputItem;
import dev.talon.conversation.OutputItem.McpCall;
import dev.talon.conversation.TokenUsage;
import dev.talon.conversation.TurnEvent;
import dev.talon.conversation.TurnReplay;
import dev.talon.conversation.TurnResult;
import dev.talon.upstream.ModelRequest;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * How a turn that runs MCP tools is rendered, event by event, where the live tests cannot steer
 * the turn: a failover that discards a later model call's output, a turn that stops under a
 * running call, a client's own function call beside Talon's, the calls of a turn that failed.
 */
class McpRenderingTest {
  private static final String RESPONSE_ID = "resp_0123456789abcdef0123456789abcdef";
  private static final McpCall RUNNING = new McpCall("call_1", "everything", "echo", "everything__echo",
      "{\"message\":\"hi\"}", McpCall.Status.RUNNING, null, 0);
  private static final McpCall COMPLETED = RUNNING.with(McpCall.Status.COMPLETED, "Echo: hi", 8);

  private static ResponsesStream responses() {
    return new ResponsesStream(new ResponsesStream.Shape(RESPONSE_ID, "session", 1700000000L, "openclaw",
        Json.object(), false));
  }

  private static TurnEvent.ToolsListed listed() {
    return new TurnEvent.ToolsListed("everything", List.of(new TurnEvent.ListedTool("echo", "Echoes", Json.object())),
        null);
  }

  private static TurnResult result(List<OutputItem> output) {
    return new TurnResult(output, "", "local/b", List.of(), new TokenUsage(1, 1, 0, 0), 0, "stop", List.of());
  }

  /** The events' frames, but the text deltas. */
  private static List<ObjectNode> frames(ResponsesStream stream, List<TurnEvent> events) {
    List<ObjectNode> out = new ArrayList<>();
    events.forEach(event -> stream.on(event).forEach(frame -> {
      if (frame instanceof ResponsesStream.JsonFrame json) {
        out.add(json.data());
      }
    }));
    return out;
  }

  @Test
  void aSwitchThatDiscardsALaterCallsOutputKeepsTheEarlierCallsAndTheirText() {
    ObjectNode response = responses().finalResponse(List.of(
        new TurnEvent.Started("t", "local/a"),
        listed(),
        new TurnEvent.TextDelta("Let me look."),
        new TurnEvent.ToolCallStarted(RUNNING),
        new TurnEvent.ToolCallFinished(COMPLETED),
        new TurnEvent.TextDelta("It said hi, and"),
        new TurnEvent.ModelSwitched("local/a", "local/b", "dropped", true),
        new TurnEvent.TextDelta("It said hi."),
        new TurnEvent.Completed(result(List.of(new OutputItem.Text("Let me look."), COMPLETED,
            new OutputItem.Text("It said hi."))))));
    List<String> shown = new ArrayList<>();
    response.path("output").forEach(item -> shown.add(item.path("type").asText() + ": "
        + item.path("content").path(0).path("text").asText(item.path("output").asText())));
    assertEquals(List.of("mcp_list_tools: ", "message: Let me look.", "mcp_call: Echo: hi", "message: It said hi."),
        shown);
  }

  @Test
  void aTurnThatStopsUnderARunningCallEndsItsItem() {
    List<ObjectNode> frames = frames(responses(), List.of(
        new TurnEvent.Started("t", "local/a"),
        new TurnEvent.ToolCall("call_1", "everything__echo", "{}"),
        new TurnEvent.ToolCallStarted(RUNNING),
        new TurnEvent.Failed("cancelled", "CANCELLED", List.of())));
    List<String> types = frames.stream().map(frame -> frame.path("type").asText()).toList();
    assertEquals(List.of("response.mcp_call.failed", "response.output_item.done", "response.failed"),
        types.subList(types.size() - 3, types.size()));
    JsonNode item = frames.get(frames.size() - 2).path("item");
    assertEquals("incomplete", item.path("status").asText());
    assertEquals(McpCall.INTERRUPTED_OUTPUT, item.at("/error/content/0/text").asText());
  }

  @Test
  void aTranscriptShowsTheCallsOfATurnThatDidNotComplete() {
    McpCall interrupted = RUNNING.with(McpCall.Status.INTERRUPTED, McpCall.INTERRUPTED_OUTPUT, 0);
    Turn failed = new Turn("t1", List.of(new InputItem.Message(ModelRequest.Role.USER, "Echo")), "main", null,
        Instant.EPOCH, Status.FAILED, null, new Failure("cancelled", "CANCELLED", List.of()), null,
        List.of(interrupted));
    ObjectNode transcript = TranscriptJson.of("session", new JournalTranscripts.Page(
        List.of(new TurnReplay.Numbered(1, failed)), false), new Context(0, null, 0, 0, null, 1, 1, false),
        turnId -> RESPONSE_ID, false);
    JsonNode turn = transcript.path("turns").path(0);
    assertEquals("failed", turn.path("status").asText());
    assertTrue(turn.path("output").isMissingNode());
    assertEquals(List.of("mcp_call", "call_1", "everything", "echo", "interrupted", McpCall.INTERRUPTED_OUTPUT),
        List.of(turn.at("/tool_calls/0/type").asText(), turn.at("/tool_calls/0/call_id").asText(),
            turn.at("/tool_calls/0/server_label").asText(), turn.at("/tool_calls/0/name").asText(),
            turn.at("/tool_calls/0/status").asText(), turn.at("/tool_calls/0/output").asText()));
  }
}
