package dev.talon.conversation;

import dev.talon.config.Model;
import dev.talon.upstream.ModelRequest;
import java.util.List;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.javadsl.Source;

public interface TurnRunner {
  /** Never fails: starts with TurnEvent.Started, ends with exactly one TurnEvent.Completed or TurnEvent.Failed, then completes. Cancelling it stops the upstream call. */
  Source<TurnEvent, NotUsed> run(String turnId, List<Model> candidates, ModelRequest request);
}
