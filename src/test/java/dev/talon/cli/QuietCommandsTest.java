package dev.talon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Script;
import dev.talon.testing.ServedModel;
import dev.talon.testing.ServerKind;
import dev.talon.testing.TalonProcess;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A command other than {@code serve} prints its answer and nothing else, run as a user runs it:
 * a process of its own with Talon's own logging, stdout and stderr apart.
 */
class QuietCommandsTest {
  static final Duration TIMEOUT = Duration.ofSeconds(60);
  @TempDir Path dir;

  @Test
  void modelsStatusPrintsOnlyItsAnswerUnlessVerbose() throws Exception {
    try (FakeUpstream fake = FakeUpstream.start()) {
      fake.models(List.of(ServedModel.of("qwen3-8b"))).loaded("qwen3-8b").modelsShape(ServerKind.LM_STUDIO)
          .setDefault(Script.reply("OK"));
      Path config = Files.writeString(dir.resolve("talon.json5"), "{ models: { providers: { lmstudio: { baseUrl: '"
          + fake.baseUrl() + "', apiKey: 'lmstudio', api: 'openai-responses', models: [{ id: 'qwen3-8b' }] } } } }");

      TalonProcess.Finished quiet = TalonProcess.run(TIMEOUT, "--config", config.toString(), "models", "status",
          "--probe");
      assertEquals(0, quiet.exit(), quiet.out() + quiet.err());
      assertEquals("", quiet.err(), "no log, no SLF4J warning");
      List<String> lines = quiet.out().lines().toList();
      assertEquals(2, lines.size(), quiet.out());
      assertTrue(lines.get(0).startsWith("lmstudio  LM Studio  " + fake.baseUrl() + "  reachable ("), lines.get(0));
      assertTrue(lines.get(1).startsWith("  qwen3-8b  present  loaded"), lines.get(1));

      // The same command, asked for its log: the check above would have seen one.
      TalonProcess.Finished verbose = TalonProcess.run(TIMEOUT, "--config", config.toString(), "models", "status",
          "--verbose");
      assertEquals(0, verbose.exit(), verbose.out() + verbose.err());
      assertTrue(verbose.err().matches("(?s)\\d\\d:\\d\\d:\\d\\d\\.\\d{3} [A-Z]+ .*"), verbose.err());
    }
  }
}
