package dev.talon.cluster;

import dev.talon.conversation.ConversationEntity;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeoutException;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.cluster.ClusterEvent.CurrentClusterState;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.sharding.ShardRegion.ClusterShardingStats;
import org.apache.pekko.cluster.sharding.typed.ClusterShardingQuery;
import org.apache.pekko.cluster.sharding.typed.GetClusterShardingStats;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.typed.Cluster;

/**
 * What this node knows of its cluster: the members as this node sees them, and where the
 * conversations' shards live. Addresses read {@code pekko://talon@host:port}.
 */
public final class ClusterStatus {
  /**
   * Shard ids are numbers: shorter ones first puts them in numeric order ("9" before "10"), and
   * still orders any other id.
   */
  private static final Comparator<String> SHARD_ORDER = Comparator.comparingInt(String::length)
      .thenComparing(Comparator.naturalOrder());

  private final ActorSystem<?> system;
  private final Cluster cluster;
  private final ClusterSharding sharding;
  private final Duration askTimeout;

  /** @param askTimeout how long {@link #view} waits for the shard coordinator */
  public ClusterStatus(ActorSystem<?> system, Duration askTimeout) {
    this.system = system;
    this.cluster = Cluster.get(system);
    this.sharding = ClusterSharding.get(system);
    this.askTimeout = askTimeout;
  }

  /** A member's status, as Pekko names them. */
  public enum State {
    JOINING, WEAKLY_UP, UP, LEAVING, EXITING, DOWN, REMOVED, PREPARING_FOR_SHUTDOWN, READY_FOR_SHUTDOWN;

    private static final Map<MemberStatus, State> OF = Map.of(MemberStatus.joining(), JOINING,
        MemberStatus.weaklyUp(), WEAKLY_UP, MemberStatus.up(), UP, MemberStatus.leaving(), LEAVING,
        MemberStatus.exiting(), EXITING, MemberStatus.down(), DOWN, MemberStatus.removed(), REMOVED,
        MemberStatus.shuttingDown(), PREPARING_FOR_SHUTDOWN,
        MemberStatus.shutDown(), READY_FOR_SHUTDOWN);

    static State of(MemberStatus status) {
      return OF.get(status);
    }

    /** A member in this state takes new work: it is up, and not on its way out. */
    public boolean serving() {
      return this == UP || this == WEAKLY_UP;
    }
  }

  /** @param reachable false once this node's failure detector has given up on the member */
  public record Member(String address, State state, Set<String> roles, boolean reachable) {}

  /**
   * @param entities per node, the number of conversations in memory per shard
   * @param failed per node that has any, the shards that did not report in time
   */
  public record Shards(Map<String, Map<String, Integer>> entities, Map<String, Set<String>> failed) {}

  /**
   * @param leader empty while the cluster has none (no member is up yet)
   * @param members every member but those removed, in address order
   * @param shards empty when the shard coordinator did not answer within the ask timeout
   */
  public record View(String self, State selfState, Optional<String> leader, List<Member> members,
      Optional<Shards> shards) {}

  /** Whether this node is a member that takes new work (up, not leaving, exiting or down). */
  public boolean serving() {
    return State.of(cluster.selfMember().status()).serving();
  }

  /** The membership and the shards of conversations; completes within the ask timeout. */
  public CompletionStage<View> view() {
    // The coordinator answers with no regions when one of them takes longer than the time it
    // was given: half of ours, so that its answer arrives before this ask gives up.
    return AskPattern.<ClusterShardingQuery, ClusterShardingStats>ask(
            sharding.shardState(), replyTo -> new GetClusterShardingStats(ConversationEntity.TYPE_KEY,
                askTimeout.dividedBy(2), replyTo), askTimeout, system.scheduler())
        .handle((stats, failure) -> {
          if (failure != null && !(unwrapped(failure) instanceof TimeoutException)) {
            throw failure instanceof CompletionException wrapped ? wrapped : new CompletionException(failure);
          }
          return membership(Optional.ofNullable(stats).map(ClusterStatus::shards));
        });
  }

  private View membership(Optional<Shards> shards) {
    CurrentClusterState state = cluster.state();
    List<Member> members = new ArrayList<>();
    for (org.apache.pekko.cluster.Member member : state.getMembers()) {
      members.add(new Member(member.address().toString(), State.of(member.status()),
          new TreeSet<>(member.getRoles()), !state.getUnreachable().contains(member)));
    }
    org.apache.pekko.cluster.Member self = cluster.selfMember();
    return new View(self.address().toString(), State.of(self.status()),
        Optional.ofNullable(state.getLeader()).map(Object::toString), members, shards);
  }

  private static Shards shards(ClusterShardingStats stats) {
    Map<String, Map<String, Integer>> entities = new TreeMap<>();
    Map<String, Set<String>> failed = new TreeMap<>();
    stats.getRegions().forEach((address, region) -> {
      Map<String, Integer> counts = new TreeMap<>(SHARD_ORDER);
      region.getStats().forEach((shard, count) -> counts.put(shard, (Integer) count));
      entities.put(address.toString(), counts);
      if (!region.getFailed().isEmpty()) {
        Set<String> shardIds = new TreeSet<>(SHARD_ORDER);
        shardIds.addAll(region.getFailed());
        failed.put(address.toString(), shardIds);
      }
    });
    return new Shards(entities, failed);
  }

  private static Throwable unwrapped(Throwable failure) {
    return failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
  }
}
