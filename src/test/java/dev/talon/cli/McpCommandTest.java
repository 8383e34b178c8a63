package dev.talon.cli;

import static dev.talon.cli.TalonCliTest.talon;
import static dev.talon.testing.McpFixtures.npmServer;
import static dev.talon.testing.McpFixtures.quoted;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.cli.TalonCliTest.Run;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class McpCommandTest {
  @TempDir Path dir;

  private String config(String mcp, String agents) throws Exception {
    Path file = dir.resolve("talon.json5");
    Files.writeString(file, "{ models: { providers: { p: { baseUrl: 'http://127.0.0.1:1/v1', models: [{ id: 'm' }] } } },"
        + " agents: " + agents + ", talon: { mcp: " + mcp + " } }");
    return file.toString();
  }

  private static String line(Run run, String start) {
    return run.out().lines().filter(l -> l.startsWith(start)).findFirst()
        .orElseThrow(() -> new AssertionError("no line starting with \"" + start + "\" in\n" + run.out()));
  }

  @Test
  void listsEachServersStateAndToolsAndTheAgentsThatMayCallThem() throws Exception {
    Path notes = Files.createDirectory(dir.resolve("notes"));
    String everything = npmServer("mcp-server-everything");
    String file = config("{ servers: { everything: { command: " + quoted(everything) + " },"
        + " fs: { command: " + quoted(npmServer("mcp-server-filesystem")) + ", args: [" + quoted(notes) + "] },"
        + " broken: { command: " + quoted(dir.resolve("no-such-server")) + " } } }",
        "{ list: ["
            + "{ id: 'main', default: true,"
            + " tools: { allow: ['everything/echo', 'fs/*'], requireApproval: ['fs/write_file'] } },"
            + "{ id: 'ops', tools: { allow: ['everything/*', 'broken/*'], deny: ['everything/get-env'] } } ] }");

    Run run = talon(Map.of(), "--config", file, "mcp", "list");
    assertEquals(1, run.exit(), "a server did not start: " + run.out() + run.err());
    assertEquals("everything  ready  stdio: " + everything + "  (mcp-servers/everything 2.0.0)",
        line(run, "everything"));
    assertTrue(line(run, "  echo ").matches("  echo +main, ops +Echoes back the input string"), line(run, "  echo "));
    assertTrue(line(run, "  get-env ").matches("  get-env +- +Returns all environment variables.*"),
        line(run, "  get-env "));
    assertTrue(line(run, "  get-sum ").matches("  get-sum +ops +Returns the sum of two numbers"), line(run, "  get-sum "));
    assertTrue(line(run, "fs  ready  stdio: ").contains(notes + "  (secure-filesystem-server "), line(run, "fs  ready"));
    assertTrue(line(run, "  write_file ").matches("  write_file +main \\(approval\\) +Create a new file or completely"
        + " overwrite an existing file with new content\\."), line(run, "  write_file "));
    assertTrue(line(run, "  read_text_file ").matches("  read_text_file +main +Read the complete contents of a file from"
        + " the file system as text\\."), "descriptions show their first sentence: " + line(run, "  read_text_file "));
    assertTrue(line(run, "broken  down  stdio: ").contains("(cannot start: "), line(run, "broken"));
    assertEquals("  agents allowed its tools: ops", run.out().lines().dropWhile(l -> !l.startsWith("broken"))
        .skip(1).findFirst().orElseThrow());
  }

  @Test
  void saysSoWhenNoServerIsConfiguredAndHasHelp() throws Exception {
    Run none = talon(Map.of(), "--config", config("{}", "{}"), "mcp", "list");
    assertEquals(0, none.exit(), none.err());
    assertEquals("no MCP servers configured (talon.mcp.servers)\n", none.out());

    Run help = talon(Map.of(), "mcp", "list", "--help");
    assertEquals(0, help.exit(), help.err());
    assertTrue(help.out().startsWith("Usage: talon mcp list"), help.out());
    assertTrue(talon(Map.of(), "mcp", "--help").out().contains("list"));
  }
}
