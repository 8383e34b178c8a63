package dev.talon.conversation;

import dev.talon.conversation.Cooldowns.Entry;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.UUID;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.cluster.ddata.Key;
import org.apache.pekko.cluster.ddata.LWWMap;
import org.apache.pekko.cluster.ddata.LWWMapKey;
import org.apache.pekko.cluster.ddata.LWWRegister;
import org.apache.pekko.cluster.ddata.SelfUniqueAddress;
import org.apache.pekko.cluster.ddata.typed.javadsl.DistributedData;
import org.apache.pekko.cluster.ddata.typed.javadsl.Replicator;
import org.apache.pekko.cluster.ddata.typed.javadsl.ReplicatorMessageAdapter;

/**
 * Shares a node's {@link Cooldowns} with the cluster through Distributed Data: one
 * {@code LWWMap} from model ref to {@link Entry}, which this actor writes with the node's own
 * changes and reads back into the node's view whenever the replicator reports it changed.
 *
 * <p>Each model's entry is last-writer-wins by the entry's own {@code at}: when two nodes fail
 * the same model at once, one count wins and the other failure is not added to it. That is
 * fine: a count only picks the next cooldown step, and the model stays cooling either way.
 */
final class ClusterCooldowns extends AbstractBehavior<ClusterCooldowns.Command> {
  sealed interface Command {}

  /** A change this node made, already in its view. */
  private record Share(String ref, Entry entry) implements Command {}

  /** The replicator's news of the map, whoever changed it (nobody deletes it). */
  private record Gossiped(Replicator.SubscribeResponse<LWWMap<String, Entry>> response) implements Command {}

  private record Written(Replicator.UpdateResponse<LWWMap<String, Entry>> response) implements Command {}

  private static final Key<LWWMap<String, Entry>> KEY = LWWMapKey.create("talon-cooldowns");

  /**
   * The register's timestamp is the entry's own {@code at}, so the replicators pick the same
   * winner as every node's view does (the default clock would stamp the time of the write).
   */
  private static final LWWRegister.Clock<Entry> AT = (current, entry) -> entry.at();

  /** Cooldowns on this node that the other nodes' failures and successes reach within a gossip round. */
  static Cooldowns start(ActorSystem<?> system, List<Duration> steps, Clock clock) {
    return new Cooldowns(steps, clock, view -> {
      // One per runner: the start-up rehearsal makes a runner of its own on the same node.
      ActorRef<Command> actor = system.systemActorOf(create(view), "talon-cooldowns-" + UUID.randomUUID(),
          Props.empty());
      return (ref, entry) -> actor.tell(new Share(ref, entry));
    });
  }

  private static Behavior<Command> create(Cooldowns view) {
    return Behaviors.setup(context -> DistributedData.<Command, LWWMap<String, Entry>>withReplicatorMessageAdapter(
        replicator -> new ClusterCooldowns(context, replicator, view)));
  }

  private final ReplicatorMessageAdapter<Command, LWWMap<String, Entry>> replicator;
  private final SelfUniqueAddress self;
  private final Cooldowns view;

  private ClusterCooldowns(ActorContext<Command> context,
      ReplicatorMessageAdapter<Command, LWWMap<String, Entry>> replicator, Cooldowns view) {
    super(context);
    this.replicator = replicator;
    this.self = DistributedData.get(context.getSystem()).selfUniqueAddress();
    this.view = view;
    replicator.subscribe(KEY, Gossiped::new);
  }

  @Override
  public Receive<Command> createReceive() {
    return newReceiveBuilder()
        .onMessage(Share.class, this::onShare)
        .onMessage(Gossiped.class, this::onGossiped)
        .onMessage(Written.class, this::onWritten)
        .build();
  }

  /**
   * Written locally and left to gossip: the turn that failed does not wait for it, and a cooldown
   * is advice, so one that reaches a node a round late costs that node at most a call to a model
   * that is down. A majority write would add nothing the turn could use, and a node cut off from
   * the others would only log timeouts while its own view is right.
   */
  private Behavior<Command> onShare(Share share) {
    replicator.askUpdate(replyTo -> new Replicator.Update<>(KEY, LWWMap.create(), Replicator.writeLocal(), replyTo,
        map -> later(map, share)), Written::new);
    return this;
  }

  /** A share may arrive after the cluster's news of a later change to the same model: it must not undo it. */
  private LWWMap<String, Entry> later(LWWMap<String, Entry> map, Share share) {
    Entry known = map.getEntries().get(share.ref());
    return known != null && known.at() > share.entry().at() ? map : map.put(self, share.ref(), share.entry(), AT);
  }

  private Behavior<Command> onGossiped(Gossiped gossiped) {
    if (gossiped.response() instanceof Replicator.Changed<LWWMap<String, Entry>> changed) {
      view.merge(changed.get(KEY).getEntries());
    }
    return this;
  }

  private Behavior<Command> onWritten(Written written) {
    if (!(written.response() instanceof Replicator.UpdateSuccess)) {
      getContext().getLog().warn("a cooldown change stays on this node: {}", written.response());
    }
    return this;
  }
}
