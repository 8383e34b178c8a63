package dev.talon.cluster;

import static dev.talon.testing.McpFixtures.npmServer;
import static dev.talon.testing.McpFixtures.quoted;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.talon.conversation.OutputItem;
import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Request;
import dev.talon.testing.Script;
import dev.talon.testing.TalonProcess;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.stream.StreamSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * A tool call cut off by SIGKILL is never run again: a real Talon process is killed while an MCP
 * server works on a slow call; after a restart on the same data the call reads back interrupted,
 * nothing calls the tool again, and the conversation goes on with a model that is told.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ToolCallKillTest {
  static final Duration START = Duration.ofSeconds(90);
  static final Duration CALL = Duration.ofSeconds(30);
  static final ObjectMapper JSON = new ObjectMapper();
  static final String SLOW_TOOL = "everything__trigger-long-running-operation";

  final HttpClient http = HttpClient.newHttpClient();
  FakeUpstream fake;
  @TempDir static Path dir;
  Path config;

  @BeforeAll
  void start() throws Exception {
    fake = FakeUpstream.start();
    config = Files.writeString(dir.resolve("talon.json5"), """
        { agents: { defaults: { model: { primary: "local/a" },
            tools: { allow: ["everything/trigger-long-running-operation"] } } },
          models: { mode: "replace", providers: {
            local: { baseUrl: "%s", apiKey: "none", api: "openai-responses", models: [{ id: "a" }] } } },
          talon: { mcp: { callTimeoutSeconds: 120, servers: { everything: { command: %s } } } } }
        """.formatted(fake.baseUrl(), quoted(npmServer("mcp-server-everything"))));
    // The model: a slow tool call first; once it sees a result, an answer.
    fake.setDefault(request -> toolOutputs(request).isEmpty()
        ? Script.reply().toolCall(SLOW_TOOL, "{\"duration\":100,\"steps\":1}")
        : Script.reply("I was told the call was cut off."));
  }

  @AfterAll
  void stop() {
    fake.close();
  }

  static List<JsonNode> toolOutputs(Request request) {
    return StreamSupport.stream(request.body().path("input").spliterator(), false)
        .filter(item -> "function_call_output".equals(item.path("type").asText())).toList();
  }

  @Test
  void aCallCutOffBySigkillReadsBackInterruptedAndIsNeverRunAgain() throws Exception {
    Path data = dir.resolve("data");
    String session = "killed-mid-call";
    try (TalonProcess talon = TalonProcess.start(config, data, START)) {
      // Once the call shows as running, its start is journaled.
      KillContract.untilEvent(http, talon, session, "Do the slow thing.", "response.mcp_call.in_progress")
          .get(CALL.toSeconds(), TimeUnit.SECONDS);
      List<ProcessHandle> servers = ProcessHandle.of(talon.pid()).orElseThrow().descendants().toList();
      talon.kill();
      servers.forEach(ProcessHandle::destroyForcibly); // an orphaned server would only finish its sleep
    }
    int requestsBefore = fake.requests().size();
    try (TalonProcess talon = TalonProcess.start(config, data, START)) {
      JsonNode turn = turns(talon, session).get(0);
      assertEquals("interrupted", turn.get("status").asText(), turn.toString());
      assertTrue(turn.toString().contains("interrupted"), turn.toString());
      assertTrue(turn.toString().contains("trigger-long-running-operation"), turn.toString());
      // Nothing ran it again: the restarted node has not even started the server, which starts on first use.
      assertTrue(ProcessHandle.of(talon.pid()).orElseThrow().descendants()
          .noneMatch(p -> p.info().commandLine().orElse("").contains("mcp-server-everything")), "a server was started");
      assertEquals(requestsBefore, fake.requests().size(), "no model was called after the restart");

      HttpResponse<String> next = http.send(KillContract.post(talon, session, "What happened to the call?", false),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, next.statusCode(), next.body());
      assertEquals("completed", JSON.readTree(next.body()).get("status").asText(), next.body());
      String history = fake.requests().get(fake.requests().size() - 1).body().path("input").toString();
      assertTrue(history.contains(OutputItem.McpCall.INTERRUPTED_OUTPUT), history);
      JsonNode after = turns(talon, session);
      assertEquals(List.of("interrupted", "completed"),
          List.of(after.get(0).get("status").asText(), after.get(1).get("status").asText()), after.toString());
    }
  }

  private JsonNode turns(TalonProcess talon, String session) throws Exception {
    return KillContract.turns(http, talon, session);
  }
}
