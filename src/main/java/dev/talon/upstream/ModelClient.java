package dev.talon.upstream;

import dev.talon.config.Model;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.javadsl.Source;

/**
 * Calls a model. The returned source is cold: nothing is sent until it is materialized, and
 * each materialization is a new call. It emits {@link ModelEvent}s ending in exactly one
 * {@link ModelEvent.Completed}, or fails with an {@link UpstreamException} whose failure is
 * classified; cancelling it closes the upstream connection.
 */
public interface ModelClient {
  Source<ModelEvent, NotUsed> stream(Model model, ModelRequest request);
}
