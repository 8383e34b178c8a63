package dev.talon.compaction;

import static dev.talon.testing.TestModels.model;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.config.CompactionSettings;
import dev.talon.config.Model;
import dev.talon.upstream.ModelRequest;
import dev.talon.upstream.ModelRequest.FunctionCall;
import dev.talon.upstream.ModelRequest.FunctionCallOutput;
import dev.talon.upstream.ModelRequest.Message;
import dev.talon.upstream.ModelRequest.Role;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/** The budget rule, the cut point, the summariser's chunks and the token estimate. */
class CompactionRulesTest {
  static final CompactionSettings DEFAULTS = CompactionSettings.DEFAULTS;

  @ParameterizedTest
  @ValueSource(ints = {4096, 8192, 16384})
  void smallWindowsKeepHalfUsableAndACompactionAlwaysMakesRoom(int window) {
    Budget budget = Budget.of(model(window, null, Model.DEFAULT_MAX_TOKENS), null, DEFAULTS);
    assertTrue(budget.promptTokens() >= window / 2, "at least half the window is usable: " + budget);
    assertTrue(budget.output() <= window / 2, "output configured above half the window is capped: " + budget);
    // What a compaction leaves (the summary, the kept tail) fits with room for the next message,
    // so a compaction never has to run again right away.
    assertTrue(budget.summaryTokens(DEFAULTS) + budget.keepTokens(DEFAULTS) <= budget.promptTokens() * 3 / 4, budget::toString);
  }

  @Test
  void aLargeWindowSubtractsTheOutputAndTheWholeReserve() {
    Budget budget = Budget.of(model(131_072, null, 8192), null, DEFAULTS);
    assertEquals(131_072 - 8192 - 20_000, budget.promptTokens());
    assertEquals(20_000, budget.keepTokens(DEFAULTS));
    assertEquals(4_000, budget.summaryTokens(DEFAULTS), "16,000 characters");
  }

  @Test
  void contextTokensCapsTheWindowAndARequestsOwnOutputLimitCounts() {
    assertEquals(32_768, Budget.of(model(131_072, 32_768, 1024), null, DEFAULTS).context());
    assertEquals(8192 - 256 - 3840, Budget.of(model(8192, null, 1024), 256, DEFAULTS).promptTokens());
  }

  static List<ModelRequest.Item> turn(String user, String answer) {
    return List.of(new Message(Role.USER, user), new Message(Role.ASSISTANT, answer));
  }

  @Test
  void theCutKeepsAboutTheNewestTokensAndFallsOnATurnStart() {
    List<List<ModelRequest.Item>> turns = List.of(turn("a".repeat(400), "b".repeat(400)),
        turn("c".repeat(400), "d".repeat(400)), turn("e".repeat(400), "f".repeat(400)));
    assertEquals(1, CutPoint.firstKept(turns, 3, 450), "two turns of 200 tokens fit 450");
    assertEquals(2, CutPoint.firstKept(turns, 3, 250));
    assertEquals(3, CutPoint.firstKept(turns, 3, 0), "everything folds when nothing may be kept");
    assertEquals(2, CutPoint.firstKept(turns, 2, 0), "the turns from mustKeep on stay");
    assertEquals(0, CutPoint.firstKept(turns, 3, 10_000), "nothing to fold");
  }

  @Test
  void theCutNeverSeparatesAFunctionCallFromItsOutput() {
    List<List<ModelRequest.Item>> turns = List.of(
        turn("first", "x".repeat(800)),
        List.of(new Message(Role.USER, "look it up"), new FunctionCall("c1", "lookup", "{}")),
        List.of(new FunctionCallOutput("c1", "y".repeat(800)), new Message(Role.ASSISTANT, "found")),
        List.of(new Message(Role.USER, "thanks"), new Message(Role.ASSISTANT, "welcome")));
    // Keeping only the newest turn would be fine; keeping from the output's turn is not: the
    // cut moves back to the call's turn.
    assertEquals(3, CutPoint.firstKept(turns, 4, 10));
    assertEquals(1, CutPoint.firstKept(turns, 4, 250));
    assertEquals(1, CutPoint.firstKept(turns, 2, 0), "a kept output keeps its call, whatever the budget");
  }

  @Test
  void longHistoriesAreChunkedAndAnOversizedItemKeepsItsStartAndEnd() {
    List<String> lines = Summaries.lines(List.of(new Message(Role.USER, "u".repeat(400)),
        new FunctionCall("c1", "read_file", "{\"path\":\"/etc/hosts\"}"),
        new FunctionCallOutput("c1", "START" + "z".repeat(10_000) + "END")));
    assertEquals("[tool call c1] read_file({\"path\":\"/etc/hosts\"})", lines.get(1));
    List<List<String>> chunks = Summaries.chunks(lines, 120);
    assertTrue(chunks.size() >= 2, chunks::toString);
    for (List<String> chunk : chunks) {
      assertTrue(chunk.stream().mapToLong(line -> TokenEstimate.ofText(line) + 1).sum() <= 120, chunk::toString);
    }
    String shortened = chunks.get(chunks.size() - 1).get(0);
    assertTrue(shortened.startsWith("[tool result c1] START") && shortened.endsWith("END")
        && shortened.contains("characters left out"), shortened);
  }

  @Test
  void theSummaryRequestAsksForTheCheckpointAndCarriesThePreviousSummaryAndTheFocus() {
    ModelRequest request = Summaries.request("## Goal\nship v2", List.of("[user] deploy to prod"), "the rollout", 500);
    assertTrue(request.instructions().contains("## Critical context"));
    String text = ((Message) request.input().get(0)).text();
    assertTrue(text.contains("ship v2") && text.contains("[user] deploy to prod") && text.contains("the rollout"), text);
    assertEquals(500, request.maxOutputTokens());
    assertEquals("line one", Summaries.capped("line one\nline two is long", 10));
  }

  @Test
  void aCjkCharacterIsATokenAndAnImageAFixedPrice() {
    assertEquals(3, TokenEstimate.ofText("abcdefghij"), "ten latin characters, rounded up");
    assertEquals(4, TokenEstimate.ofText("你好世界"));
    assertEquals(6, TokenEstimate.ofText("こんにちはabc"), "five kana and three latin characters");
    assertEquals(TokenEstimate.IMAGE_TOKENS + 1, TokenEstimate.of(new Message(Role.USER,
        List.of(new ModelRequest.Text("see"), new ModelRequest.Image("data:image/png;base64,AAAA", null)))));
  }
}
