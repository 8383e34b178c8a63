package dev.talon.conversation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.compaction.TokenEstimate;
import dev.talon.config.CompactionSettings;
import dev.talon.testing.TestModels;
import dev.talon.upstream.ModelRequest;
import dev.talon.upstream.ModelRequest.Message;
import dev.talon.upstream.ModelRequest.Role;
import java.util.List;
import org.junit.jupiter.api.Test;

/** How big a turn's request is: the provider's count where it has one, never less than the estimate. */
class ModelViewTest {
  static final ModelView.Compacting COMPACTING = new ModelView.Compacting(CompactionSettings.DEFAULTS, List.of());
  static final ModelRequest NEXT = ModelRequest.of("be brief", List.of(new Message(Role.USER, "and now?")));
  static final List<ModelView.Earlier> EARLIER = List.of(
      new ModelView.Earlier("t1", List.of(new Message(Role.USER, "q".repeat(400)), new Message(Role.ASSISTANT, "a".repeat(400)))),
      new ModelView.Earlier("t2", List.of(new Message(Role.USER, "r".repeat(40)))));

  static ModelView view(ModelView.Reported reported) {
    return new ModelView("t3", NEXT, "the summary", EARLIER, reported, COMPACTING);
  }

  @Test
  void theProvidersCountOfATurnPlusAnEstimateOfWhatFollowsIt() {
    long estimate = TokenEstimate.of(view(null).request());
    assertEquals(estimate, view(null).tokens());
    long after = TokenEstimate.of(EARLIER.get(1).items()) + TokenEstimate.of(NEXT.input());
    assertEquals(5_000 + after, view(new ModelView.Reported("t1", 5_000)).tokens(), "a tokenizer that counts more");
    assertEquals(estimate, view(new ModelView.Reported("t1", 10)).tokens(), "never less than the estimate");
    assertEquals(estimate, view(new ModelView.Reported("gone", 5_000)).tokens(), "a count of a folded turn is void");
  }

  @Test
  void aCompactionReplacesTheSummaryDropsWhatItFoldedAndVoidsTheCount() {
    ModelView view = view(new ModelView.Reported("t1", 5_000));
    assertFalse(view.fits(TestModels.model(8192, null, 1024)));
    view.compacted("shorter", 1);
    assertEquals(List.of(EARLIER.get(1)), view.earlier());
    assertEquals(new Message(Role.USER, "[Summary of the earlier conversation, which is no longer shown in full]\n\nshorter"),
        view.request().input().get(0));
    assertTrue(view.fits(TestModels.model(8192, null, 1024)));
    assertEquals(TokenEstimate.of(view.request()), view.tokens());
  }
}
