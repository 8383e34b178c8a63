package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.testing.Script;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The README's {@code curl} examples, run as written against a node on a free port. */
class ReadmeApiExamplesTest {

  /** The first {@code sh} block of the README's API section. */
  static String examples() throws Exception {
    String readme = Files.readString(Path.of("README.md"));
    int api = readme.indexOf("## API");
    int start = readme.indexOf("```sh\n", api) + "```sh\n".length();
    return readme.substring(start, readme.indexOf("```", start));
  }

  @Test
  void theCurlExamplesWorkAsWritten(@TempDir Path dataDir) throws Exception {
    String script = examples();
    assertTrue(script.contains("http://127.0.0.1:18789/v1/responses"), script);
    try (TalonApi api = TalonApi.start(dataDir, null)) {
      api.fake.enqueue(Script.reply("Hello there, nice to meet."), Script.reply("Nice to meet you, Ada."),
          Script.reply("Your name is Ada."), Script.reply("One, two, three.").usage(8, 6));
      String port = String.valueOf(api.server.localAddress().getPort());
      Process curl = new ProcessBuilder("bash", "-euo", "pipefail", "-c",
          script.replace("127.0.0.1:18789", "127.0.0.1:" + port)).redirectErrorStream(true).start();
      assertTrue(curl.waitFor(60, TimeUnit.SECONDS), "the examples finish");
      String out = new String(curl.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertEquals(0, curl.exitValue(), out);

      assertTrue(out.contains("event: response.output_text.delta"), out);
      assertTrue(out.contains("event: response.completed"), out);
      assertTrue(out.contains("\"text\":\"Your name is Ada.\""), out);
      assertTrue(out.contains("\"session_key\":\"demo\""), out);
      assertTrue(out.contains("\"object\":\"chat.completion.chunk\""), out);
      assertTrue(out.contains("\"completion_tokens\":6"), out);
      assertTrue(out.contains("data: [DONE]"), out);
      assertTrue(out.contains("\"object\":\"list\""), out);
      assertTrue(out.contains("\"session_key\":\"demo\",\"turn_count\":2,\"last_activity_at\""), out);
      assertTrue(!out.contains("\"error\":{"), out);
      assertEquals(2, api.transcript("demo").turns().size());
    }
  }
}
