package dev.talon.conversation;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import dev.talon.config.ConfigLoader;
import dev.talon.config.Model;
import dev.talon.config.ModelCatalog;
import dev.talon.config.TalonSettings;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Cooldowns across a real two-member cluster in one JVM: what one node learns of a model, the other plans by. */
class ClusterCooldownsTest {
  static final Duration FORMING = Duration.ofSeconds(30);
  static final Duration PROPAGATION = Duration.ofSeconds(15);
  static final Instant NOW = Instant.parse("2026-11-25T00:00:00Z");
  static final Clock CLOCK = Clock.fixed(NOW, ZoneOffset.UTC);
  static final List<Duration> STEPS = TalonSettings.Failover.DEFAULTS.cooldowns();
  static final ModelCatalog catalog = ConfigLoader.parse("{ models: { mode: 'replace', providers: { "
      + "local: { baseUrl: 'http://127.0.0.1:9/v1', api: 'openai-completions', "
      + "models: [{ id: 'a' }, { id: 'b' }] } } },"
      + " agents: { defaults: { model: { primary: 'local/a', fallbacks: ['local/b'] } } } }",
      "test", Map.<String, String>of()::get).catalog();
  static final Model A = catalog.resolve("local/a");
  static final Model B = catalog.resolve("local/b");

  static ActorTestKit first;
  static ActorTestKit second;

  static ActorTestKit node() {
    Config config = ConfigFactory.load(ConfigFactory.parseString("""
        pekko.actor.provider = cluster
        pekko.remote.artery.canonical.hostname = 127.0.0.1
        pekko.remote.artery.canonical.port = 0
        """).withFallback(ConfigFactory.defaultApplication()));
    return ActorTestKit.create("cooldowns", config);
  }

  @BeforeAll
  static void formCluster() {
    first = node();
    second = node();
    org.apache.pekko.actor.Address seed = Cluster.get(first.system()).selfMember().address();
    Cluster.get(first.system()).manager().tell(Join.create(seed));
    Cluster.get(second.system()).manager().tell(Join.create(seed));
    for (ActorTestKit node : List.of(first, second)) {
      node.createTestProbe().awaitAssert(FORMING, () -> {
        assertEquals(2, java.util.stream.StreamSupport.stream(Cluster.get(node.system()).state().getMembers()
            .spliterator(), false).filter(member -> member.status().equals(MemberStatus.up())).count());
        return null;
      });
    }
  }

  @AfterAll
  static void shutdown() {
    second.shutdownTestKit();
    first.shutdownTestKit();
  }

  @Test
  void whatOneNodeLearnsOfAModelTheOtherPlansBy() {
    Cooldowns one = ClusterCooldowns.start(first.system(), STEPS, CLOCK);
    Cooldowns two = ClusterCooldowns.start(second.system(), STEPS, CLOCK);
    TestProbe<Void> probe = second.createTestProbe();

    one.failed(A);
    assertEquals(NOW.plusSeconds(30), one.coolingUntil(A), "the failing node knows at once");
    probe.awaitAssert(PROPAGATION, () -> {
      assertEquals(NOW.plusSeconds(30), two.coolingUntil(A));
      assertEquals(List.of(B, A), two.plan(List.of(A, B)));
      return null;
    });

    // The count crossed over: the other node's failure is the second in a row, everywhere.
    two.failed(A);
    assertEquals(NOW.plusSeconds(60), two.coolingUntil(A));
    probe.awaitAssert(PROPAGATION, () -> {
      assertEquals(NOW.plusSeconds(60), one.coolingUntil(A));
      return null;
    });

    two.succeeded(A);
    assertNull(two.coolingUntil(A));
    probe.awaitAssert(PROPAGATION, () -> {
      assertNull(one.coolingUntil(A));
      assertEquals(List.of(A, B), one.plan(List.of(A, B)));
      return null;
    });
    one.failed(A);
    assertEquals(NOW.plusSeconds(30), one.coolingUntil(A), "the success reset the count on the other node too");
  }

  @Test
  void newsOlderThanANodesOwnChangeDoesNotUndoIt() {
    Cooldowns view = new Cooldowns(STEPS, CLOCK);
    view.failed(A);
    long failedAt = NOW.toEpochMilli();
    view.merge(Map.of(A.ref(), new Cooldowns.Entry(0, 0, failedAt - 1)));
    assertEquals(NOW.plusSeconds(30), view.coolingUntil(A), "a success from before the failure");
    view.merge(Map.of(A.ref(), new Cooldowns.Entry(0, 0, failedAt + 1)));
    assertNull(view.coolingUntil(A), "a success after it");
  }
}
