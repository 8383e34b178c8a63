package dev.talon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Script;
import dev.talon.testing.ServedModel;
import dev.talon.testing.ServerKind;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code talon models status [--probe]} against a running fake upstream and a closed port. */
class ModelsStatusTest {
  static final FakeUpstream fake = FakeUpstream.start();
  @TempDir Path dir;

  @AfterAll
  static void stop() {
    fake.close();
  }

  Path config(String baseUrl) throws Exception {
    Path file = dir.resolve("talon.json5");
    Files.writeString(file, "{ models: { providers: { lmstudio: { baseUrl: '" + baseUrl + "', apiKey: 'lmstudio', "
        + "api: 'openai-responses', models: [{ id: 'qwen3-8b' }, { id: 'gemma-3' }] } } } }");
    return file;
  }

  @Test
  void reportsReachablePresentLoadedAndTheProbesFirstToken() throws Exception {
    fake.models(List.of(ServedModel.of("qwen3-8b").contextLength(40960), ServedModel.of("gemma-3"))).loaded("qwen3-8b")
        .modelsShape(ServerKind.LM_STUDIO).setDefault(Script.reply("OK"));
    TalonCliTest.Run run = TalonCliTest.talon(Map.of(), "--config", config(fake.baseUrl()).toString(),
        "models", "status", "--probe");
    assertEquals(0, run.exit(), run.out() + run.err());
    assertTrue(run.out().contains("lmstudio  LM Studio  " + fake.baseUrl() + "  reachable ("), run.out());
    assertTrue(run.out().matches("(?s).*  qwen3-8b  present  loaded  context 40960  first token \\d+ ms.*"), run.out());
    assertTrue(run.out().matches("(?s).*  gemma-3  present  not loaded \\(loads on first request\\).*first token \\d+ ms.*"),
        run.out());
    assertTrue(fake.requests().stream().anyMatch(r -> r.path().equals("/api/v0/models")));
    assertTrue(fake.requests().stream().anyMatch(r -> r.path().equals("/v1/responses") && r.body().path("model")
        .asText().equals("qwen3-8b")));
  }

  @Test
  void aModelTheServerDoesNotHaveIsNamedWithWhatItHas() throws Exception {
    fake.models("other-model").modelsShape(ServerKind.OPENAI);
    TalonCliTest.Run run = TalonCliTest.talon(Map.of(), "--config", config(fake.baseUrl()).toString(), "models", "status");
    assertEquals(1, run.exit());
    assertTrue(run.out().contains("qwen3-8b  MISSING\n    qwen3-8b is not served by LM Studio; it serves: other-model"),
        run.out());
  }

  @Test
  void aClosedPortIsExplainedInOneLine() throws Exception {
    int port;
    try (ServerSocket socket = new ServerSocket(0)) {
      port = socket.getLocalPort();
    }
    TalonCliTest.Run run = TalonCliTest.talon(Map.of(), "--config",
        config("http://127.0.0.1:" + port + "/v1").toString(), "models", "status", "--probe");
    assertEquals(1, run.exit());
    assertTrue(run.out().contains("UNREACHABLE: LM Studio at 127.0.0.1:" + port
        + " refused the connection — is its server started?"), run.out());
  }
}
