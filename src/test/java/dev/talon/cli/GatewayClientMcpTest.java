package dev.talon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Script;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code talon chat}'s reader of a Responses stream hands on the MCP calls Talon ran and the ones that wait. */
class GatewayClientMcpTest {
  /** What a turn of an agent that acts streams, trimmed to the events the reader hands on. */
  private static final String STREAM = """
      event: talon.approval_required
      data: {"type":"talon.approval_required","server_label":"everything","name":"echo","approve_path":"/v1/responses/resp_1/approve"}

      event: response.output_item.done
      data: {"type":"response.output_item.done","item":{"type":"mcp_list_tools","server_label":"everything"}}

      event: response.output_item.done
      data: {"type":"response.output_item.done","item":{"type":"mcp_call","server_label":"everything","name":"echo","status":"completed"}}

      event: response.output_text.delta
      data: {"type":"response.output_text.delta","delta":"Done."}

      event: response.completed
      data: {"type":"response.completed","response":{"status":"completed"}}

      """;

  @TempDir Path dir;

  @Test
  void toolCallsAndApprovalsReachTheReader() throws Exception {
    Path recorded = Files.writeString(dir.resolve("mcp-turn.sse"), STREAM);
    List<String> seen = new ArrayList<>();
    try (FakeUpstream talon = FakeUpstream.start()) {
      talon.enqueue(Script.fixture(recorded));
      new GatewayClient(talon.url(""), Optional.empty(), Duration.ofSeconds(10)).turn("s", null, "hi",
          new GatewayClient.Events() {
            @Override
            public void started(String responseId) {}

            @Override
            public void reasoning(String delta) {}

            @Override
            public void text(String delta) {
              seen.add("text " + delta);
            }

            @Override
            public void compaction(boolean done, JsonNode event) {}

            @Override
            public void toolCall(JsonNode item) {
              seen.add("tool " + item.path("name").asText() + " " + item.path("status").asText());
            }

            @Override
            public void approvalRequired(JsonNode event) {
              seen.add("approval " + event.path("name").asText() + " at " + event.path("approve_path").asText());
            }

            @Override
            public void ended(JsonNode response) {
              seen.add("ended " + response.path("status").asText());
            }
          });
    }
    assertEquals(List.of("approval echo at /v1/responses/resp_1/approve", "tool echo completed", "text Done.",
        "ended completed"), seen);
  }
}
