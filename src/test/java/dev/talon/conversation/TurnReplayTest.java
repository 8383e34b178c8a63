package dev.talon.conversation;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.talon.conversation.ConversationEntity.Status;
import dev.talon.conversation.ConversationEntity.ToolCallFinished;
import dev.talon.conversation.ConversationEntity.ToolCallStarted;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.conversation.ConversationEntity.TurnFailed;
import dev.talon.conversation.ConversationEntity.TurnStarted;
import dev.talon.conversation.OutputItem.McpCall;
import dev.talon.upstream.ModelRequest.Role;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Turns read back from the journal, event by event, as the entity holds them. */
class TurnReplayTest {
  @Test
  void aTurnsToolCallsAreReadBackWithItsOutcome() {
    McpCall running = new McpCall("call-1", "fs", "write_file", "fs__write_file", "{}", McpCall.Status.RUNNING, null, 0);
    McpCall interrupted = running.with(McpCall.Status.INTERRUPTED, McpCall.INTERRUPTED_OUTPUT, 0);
    TurnReplay replay = new TurnReplay();
    List.of(new TurnStarted("t1", List.of(new InputItem.Message(Role.USER, "write b")), "main", null, Instant.EPOCH,
            false, null), new ToolCallStarted("t1", running), new ToolCallFinished("t1", interrupted),
        new TurnFailed("t1", "cancelled", ConversationEntity.CANCELLED, List.of())).forEach(replay::apply);
    Turn turn = replay.last().orElseThrow().turn();
    assertEquals(Status.FAILED, turn.status(), "a tool call is not the turn's end");
    assertEquals(List.of(interrupted), turn.toolCalls());
  }
}
