package dev.talon.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.talon.config.TalonConfig;
import dev.talon.config.TalonSettings;
import dev.talon.conversation.ConversationEntity;
import dev.talon.conversation.NodeMetrics;
import dev.talon.conversation.TurnRunner;
import dev.talon.conversation.UnstoredTurns;
import dev.talon.tools.McpServers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.pekko.Done;
import org.apache.pekko.actor.CoordinatedShutdown;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.sharding.typed.ClusterShardingSettings;
import org.apache.pekko.cluster.sharding.typed.javadsl.ClusterSharding;
import org.apache.pekko.cluster.sharding.typed.javadsl.Entity;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.apache.pekko.persistence.Persistence;
import org.apache.pekko.stream.Materializer;
import org.slf4j.Logger;

/**
 * A running Talon node: the journal database prepared, a cluster member (a cluster of one when
 * no seed nodes are configured), and conversations sharded across the members.
 *
 * <p>The actor system is named {@value TalonSettings.Cluster#SYSTEM_NAME}, so seed nodes read
 * {@code pekko://talon@host:port}.
 */
public final class TalonRuntime implements AutoCloseable {
  /** What a shutdown phase that waits for the gateway's drain allows beyond it. */
  private static final Duration SHUTDOWN_MARGIN = Duration.ofSeconds(5);

  private final ActorSystem<Void> system;
  private final Conversations conversations;
  private final ClusterStatus cluster;
  private final CompletionStage<Done> up;
  private final NodeMetrics metrics;

  private TalonRuntime(ActorSystem<Void> system, Conversations conversations, ClusterStatus cluster,
      CompletionStage<Done> up, NodeMetrics metrics) {
    this.system = system;
    this.conversations = conversations;
    this.cluster = cluster;
    this.up = up;
    this.metrics = metrics;
  }

  /** Makes the runner of every turn of a node. */
  @FunctionalInterface
  public interface Runners {
    /** @param metrics the node's, where the runner counts its model calls */
    TurnRunner create(ActorSystem<?> system, NodeMetrics metrics);
  }

  /**
   * Prepares the journal, starts the node and joins the cluster.
   *
   * @param dataDir where the embedded H2 journal lives
   * @param runners makes the runner of every turn
   * @throws StorageException when the journal database cannot be used; nothing is left running
   */
  public static TalonRuntime start(TalonConfig config, Path dataDir, Runners runners) {
    return start(config, dataDir, runners, Clock.systemUTC());
  }

  /** @param clock what the retention sweep takes for now */
  public static TalonRuntime start(TalonConfig config, Path dataDir, Runners runners, Clock clock) {
    TalonSettings talon = config.talon();
    JournalDatabase database = JournalDatabase.of(talon.storage(), dataDir);
    if (talon.storage().type() == TalonSettings.Storage.Type.H2) {
      createDirectories(dataDir);
    }
    // Both take about a second on a cold JVM; the schema must only be there before the journal starts.
    CompletableFuture<Void> schema = CompletableFuture.runAsync(() -> JournalSchema.ensure(database),
        task -> new Thread(task, "talon-schema").start());

    ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), TalonSettings.Cluster.SYSTEM_NAME, pekkoConfig(talon.cluster(), database,
        config.gateway().limits().drain()));
    try {
      awaitSchema(schema);
      if (talon.storage().type() == TalonSettings.Storage.Type.H2) {
        // The last step of every stop, graceful or not SIGKILL: the conversations have stopped writing.
        CoordinatedShutdown.get(system).addTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate(),
            "talon-compact-journal", () -> CompletableFuture.supplyAsync(() -> {
              database.compact();
              return Done.getInstance();
            }, task -> new Thread(task, "talon-compact").start()));
      }
      Cluster cluster = Cluster.get(system);
      if (talon.cluster().seedNodes().isEmpty()) {
        cluster.manager().tell(Join.create(cluster.selfMember().address()));
      }
      CompletableFuture<Done> up = new CompletableFuture<>();
      org.apache.pekko.cluster.Cluster.get(system.classicSystem()).registerOnMemberUp(() -> up.complete(Done.getInstance()));

      // The plugins start lazily: the first turn would pay for Slick and the pool (~0.3 s).
      Persistence persistence = Persistence.get(system);
      persistence.journalFor("", ConfigFactory.empty());
      persistence.snapshotStoreFor("", ConfigFactory.empty());

      NodeMetrics metrics = new NodeMetrics(config.catalog().models());
      TurnRunner runner = runners.create(system, metrics);
      JournalRows rows = new JournalRows(database, system.dispatchers().lookup(DispatcherSelector.blocking()));
      JournalTranscripts transcripts = new JournalTranscripts(system);
      McpServers mcp = McpServers.start(system, talon.mcp());
      ClusterSharding sharding = ClusterSharding.get(system);
      Conversations.Factory conversation = (entity, catalog, turns, counted) -> ConversationEntity.create(entity,
          catalog, turns, talon.conversations(), rows, transcripts, counted, mcp);
      sharding.init(Entity.of(ConversationEntity.TYPE_KEY,
              entity -> conversation.create(entity, config.catalog(), runner, metrics))
          // conversations passivate themselves, never in the middle of a turn
          .withSettings(ClusterShardingSettings.create(system).withNoPassivationStrategy())
          .withStopMessage(ConversationEntity.HandOff.INSTANCE));
      Conversations conversations = new Conversations(system, config.gateway().limits().askTimeout(),
          new UnstoredTurns(config.catalog(), metrics.counting(runner)), transcripts, rows, conversation);
      scheduleSweeps(system, rows, conversations, talon.retention(), clock);
      return new TalonRuntime(system, conversations, new ClusterStatus(system, config.gateway().limits().askTimeout()),
          up, metrics);
    } catch (RuntimeException e) {
      system.terminate();
      throw e;
    }
  }

  /** Every sweep interval, erases the keyless conversations whose retention has passed; one sweep at a time. */
  private static void scheduleSweeps(ActorSystem<?> system, JournalRows rows, Conversations conversations,
      TalonSettings.Retention retention, Clock clock) {
    AtomicBoolean sweeping = new AtomicBoolean();
    Cluster cluster = Cluster.get(system);
    system.scheduler().scheduleWithFixedDelay(retention.sweepInterval(), retention.sweepInterval(), () -> {
      // The journal is shared: the leader sweeps it for the whole cluster.
      boolean leader = cluster.selfMember().address().equals(cluster.state().getLeader());
      if (leader && sweeping.compareAndSet(false, true)) {
        sweep(rows, conversations, clock.instant().minus(retention.keyless()), system.log())
            .whenComplete((done, failure) -> {
              if (failure != null) {
                system.log().warn("the retention sweep failed (the next one tries again): {}", failure.toString());
              }
              sweeping.set(false);
            });
      }
    }, system.executionContext());
  }

  /**
   * One conversation after the other: a sweep is background work, not a burst of recoveries. One
   * that cannot be erased now stays for the next sweep and does not hold up the others.
   */
  private static CompletionStage<Done> sweep(JournalRows rows, Conversations conversations, Instant cutoff,
      Logger log) {
    return rows.keylessUnusedSince(cutoff).thenCompose(ids -> {
      CompletionStage<Done> erased = CompletableFuture.completedFuture(Done.getInstance());
      for (String id : ids) {
        erased = erased.thenCompose(done -> conversations.expire(JournalTranscripts.sessionKey(id), cutoff)
            .exceptionally(failure -> {
              log.warn("cannot erase the expired conversation {} yet: {}", id, failure.toString());
              return Done.getInstance();
            }));
      }
      return erased;
    });
  }

  private static void awaitSchema(CompletableFuture<Void> schema) {
    try {
      schema.join();
    } catch (CompletionException e) {
      throw e.getCause() instanceof RuntimeException cause ? cause : e;
    }
  }

  /**
   * Talon's settings over application.conf over the libraries' reference.conf. Built with
   * {@code load(overrides.withFallback(defaultApplication()))}: layering over an already
   * resolved {@code load()} would leave substitutions in application.conf pointing at old values.
   */
  static Config pekkoConfig(TalonSettings.Cluster cluster, JournalDatabase database, Duration drain) {
    Map<String, Object> node = new HashMap<>();
    String lastsTheDrain = drain.plus(SHUTDOWN_MARGIN).toMillis() + "ms";
    // The gateway's drain runs in this phase (see ServeCommand); the phase must outlast it.
    node.put("pekko.coordinated-shutdown.phases.before-service-unbind.timeout", lastsTheDrain);
    // A leaving node hands its conversations over only once their running turns end (a client on
    // another node may be streaming one), within the same deadline.
    node.put("pekko.coordinated-shutdown.phases.cluster-sharding-shutdown-region.timeout", lastsTheDrain);
    node.put("pekko.cluster.sharding.handoff-timeout", lastsTheDrain);
    node.put("pekko.actor.provider", "cluster");
    node.put("pekko.remote.artery.canonical.hostname", cluster.host());
    node.put("pekko.remote.artery.canonical.port", cluster.port());
    node.put("pekko.cluster.seed-nodes", cluster.seedNodes());
    // How long the survivors wait before downing an unreachable member, and then before starting
    // its conversations elsewhere (the margin defaults to this): a member cut off by a partition
    // has downed itself by then, so a conversation never runs on two nodes at once.
    node.put("pekko.cluster.split-brain-resolver.stable-after", cluster.downAfter().toMillis() + "ms");
    cluster.tls().ifPresent(tls -> {
      String engine = "pekko.remote.artery.ssl.config-ssl-engine.";
      node.put("pekko.remote.artery.transport", "tls-tcp");
      node.put(engine + "key-store", tls.keyStore());
      node.put(engine + "key-store-password", tls.keyStorePassword());
      node.put(engine + "key-password", tls.keyPassword());
      node.put(engine + "trust-store", tls.trustStore());
      node.put(engine + "trust-store-password", tls.trustStorePassword());
      node.put(engine + "require-mutual-authentication", "on");
    });
    Config overrides = ConfigFactory.parseMap(node).withFallback(database.pekkoConfig());
    return ConfigFactory.load(overrides.withFallback(ConfigFactory.defaultApplication()));
  }

  public ActorSystem<Void> system() {
    return system;
  }

  public Conversations conversations() {
    return conversations;
  }

  /** The members of this node's cluster and where conversations live. */
  public ClusterStatus cluster() {
    return cluster;
  }

  /** This node's metrics: what {@code GET /metrics} serves. */
  public NodeMetrics metrics() {
    return metrics;
  }

  /** Completes when this node is an Up member of the cluster. */
  public CompletionStage<Done> whenUp() {
    return up;
  }

  /** Leaves the cluster and stops the node. */
  public CompletionStage<Done> stop() {
    system.terminate();
    return system.getWhenTerminated();
  }

  @Override
  public void close() throws Exception {
    stop().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }

  private static void createDirectories(Path dataDir) {
    try {
      Files.createDirectories(dataDir);
    } catch (IOException e) {
      throw new StorageException("cannot create the data directory " + dataDir.toAbsolutePath() + ": " + e, e);
    }
  }
}
