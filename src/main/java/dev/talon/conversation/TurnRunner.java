package dev.talon.conversation;

import dev.talon.config.Model;
import dev.talon.config.TalonSettings.MidStream;
import java.util.List;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.javadsl.Source;

/** Runs one turn over a chain of candidate models. */
public interface TurnRunner {
  /**
   * Never fails: starts with TurnEvent.Started, ends with exactly one TurnEvent.Completed or
   * TurnEvent.Failed, then completes. Cancelling it stops the upstream call.
   *
   * @param midStream what becomes of text already streamed when its model fails; null means the
   *     node's setting
   */
  Source<TurnEvent, NotUsed> run(String turnId, List<Model> candidates, ModelView view, MidStream midStream);
}
