package dev.talon.compaction;

import dev.talon.upstream.ModelRequest;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Where a compaction cuts a conversation: what comes before the cut is summarised, the rest is
 * kept as it was. It cuts only where a turn starts, and never between a function call and its
 * output (a tool loop's next turn starts with the output of the call the turn before made).
 */
public final class CutPoint {
  private CutPoint() {}

  /**
   * The index of the first turn kept: walking back from the newest, it keeps turns while they add
   * up to at most {@code keepTokens} (the turns from {@code mustKeep} on count, and always stay,
   * with whatever calls their function outputs answer). 0 means nothing can be folded.
   *
   * @param turns each turn's items, oldest first
   * @param mustKeep the index of the first turn that stays whatever its size ({@code turns.size()} for none)
   */
  public static int firstKept(List<List<ModelRequest.Item>> turns, int mustKeep, long keepTokens) {
    Set<String> called = new HashSet<>();
    turns.forEach(turn -> turn.forEach(item -> {
      if (item instanceof ModelRequest.FunctionCall call) {
        called.add(call.callId());
      }
    }));
    // Outputs in the kept part whose call has not been met yet, walking back.
    Set<String> unanswered = new HashSet<>();
    long kept = 0;
    for (int i = mustKeep; i < turns.size(); i++) {
      track(turns.get(i), called, unanswered);
      kept += TokenEstimate.of(turns.get(i));
    }
    int cut = unanswered.isEmpty() ? mustKeep : -1;
    for (int i = mustKeep - 1; i >= 0; i--) {
      track(turns.get(i), called, unanswered);
      kept += TokenEstimate.of(turns.get(i));
      if (cut >= 0 && kept > keepTokens) {
        break;
      }
      if (unanswered.isEmpty()) {
        cut = i;
      }
    }
    return Math.max(cut, 0);
  }

  private static void track(List<ModelRequest.Item> turn, Set<String> called, Set<String> unanswered) {
    // Within a turn the call precedes its output: remove first what this turn answers itself.
    for (int i = turn.size() - 1; i >= 0; i--) {
      ModelRequest.Item item = turn.get(i);
      if (item instanceof ModelRequest.FunctionCallOutput output && called.contains(output.callId())) {
        unanswered.add(output.callId());
      } else if (item instanceof ModelRequest.FunctionCall call) {
        unanswered.remove(call.callId());
      }
    }
  }
}
