package dev.talon.conversation;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.List;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.SourceRef;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.javadsl.StreamRefs;
import org.apache.pekko.util.ByteString;

/**
 * A turn's events as handed to whoever asked for them. An asker on another node gets a stream
 * ref; an asker on this node, which is every request of a single-node Talon, gets the source
 * itself, because a stream ref costs an actor, a demand protocol and a message per batch of
 * events on every turn. Only the stream ref crosses the wire, and the events cross it as
 * {@link Parcels}: a completed turn's event holds the whole answer, which may exceed a frame.
 */
public final class TurnEvents {
  private final SourceRef<ByteString> ref;
  /** Local events in batches of any size: a turn's log hands over what has come since its reader last looked. */
  private final Source<List<TurnEvent>, NotUsed> local;

  private TurnEvents(SourceRef<ByteString> ref, Source<List<TurnEvent>, NotUsed> local) {
    this.ref = ref;
    this.local = local;
  }

  /** Events for an asker on this node, in batches; they must never be sent to another. */
  static TurnEvents local(Source<List<TurnEvent>, NotUsed> batches) {
    return new TurnEvents(null, batches);
  }

  /** Events for {@code asker}: the source itself when it lives on this node, else a stream ref to it. */
  static TurnEvents forAsker(Source<List<TurnEvent>, NotUsed> batches, ActorRef<?> asker, Parcels parcels,
      Materializer materializer) {
    return asker.path().address().hasLocalScope()
        ? local(batches)
        : new TurnEvents(batches.<TurnEvent>mapConcat(batch -> batch).via(parcels.parcels())
            .runWith(StreamRefs.sourceRef(), materializer), null);
  }

  @JsonCreator
  static TurnEvents remote(@JsonProperty("ref") SourceRef<ByteString> ref) {
    return new TurnEvents(ref, null);
  }

  /** What goes over the wire; a local source has none and refuses to be sent. */
  @JsonProperty("ref")
  SourceRef<ByteString> ref() {
    if (ref == null) {
      throw new IllegalStateException("a turn's local events cannot be sent to another node");
    }
    return ref;
  }

  /** The events, to be run once. */
  @JsonIgnore
  public Source<TurnEvent, NotUsed> source() {
    return local != null ? local.mapConcat(batch -> batch) : remote();
  }

  /**
   * The same events in batches, to be run once: whoever passes them on to another stream passes
   * each batch in one message. Events from another node come one to a batch.
   */
  @JsonIgnore
  public Source<List<TurnEvent>, NotUsed> batches() {
    return local != null ? local : remote().map(List::of);
  }

  private Source<TurnEvent, NotUsed> remote() {
    return Source.fromMaterializer((materializer, attributes) -> ref.getSource()
        .via(Parcels.of(materializer.system()).messages()).map(TurnEvent.class::cast))
        .mapMaterializedValue(done -> NotUsed.getInstance());
  }

  /** Names the stream ref's node for events from another node. */
  @Override
  public String toString() {
    return local != null ? "TurnEvents[local]" : "TurnEvents[" + ref + "]";
  }
}
