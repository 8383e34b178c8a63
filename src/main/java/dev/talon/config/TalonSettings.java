package dev.talon.config;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Talon's own {@code talon} key: where data lives, how the runtime is deployed, how long it
 * waits for upstream servers, and the MCP servers agents' tools come from.
 *
 * @param dataDir null means the default, {@code ./data}
 */
public record TalonSettings(String dataDir, Storage storage, Cluster cluster, Upstream upstream, Failover failover,
    Conversations conversations, Retention retention, McpSettings mcp, Warmup warmup) {

  /**
   * The same node alone: a cluster of one on a free port, with the embedded journal in the data
   * directory. For a throwaway start that must not join the configured cluster or write to its
   * database.
   */
  public TalonSettings standalone() {
    return new TalonSettings(dataDir, new Storage(Storage.Type.H2, null, null, ""), Cluster.SINGLE_NODE, upstream,
        failover, conversations, retention, mcp, warmup);
  }

  /** The same settings with {@code turns} warm-up turns. */
  public TalonSettings withWarmupTurns(int turns) {
    return new TalonSettings(dataDir, storage, cluster, upstream, failover, conversations, retention, mcp,
        new Warmup(turns, warmup.concurrency(), warmup.quiet()));
  }

  /**
   * Once started, a node sends itself {@code turns} more rehearsal turns, {@code concurrency} at a
   * time, so that the compiler has made the request path fast before clients need it
   * (interpreted, a turn costs several times the CPU). They are sent only once no client turn has
   * run for {@code quiet}: the rehearsal is for the clients to come, and a client that is here
   * warms the node with its own turns, which the rehearsal's would only slow down (its turns in
   * between had doubled the CPU a client's first streams seemed to cost). 0 turns leaves it all
   * to the clients' first few thousand turns.
   */
  public record Warmup(int turns, int concurrency, Duration quiet) {
    /**
     * On a two-core machine, some 19-28 s after ready and 30-44 s of CPU. One turn at a time: the
     * compiler's threads keep the other core busy all the same, and with two, a client's first
     * requests, sent while the rehearsal ran, waited 20-30 ms longer for their first token (the
     * rehearsal ended 2.5 s sooner, for the same CPU).
     */
    public static final Warmup DEFAULTS = new Warmup(1000, 1, Duration.ofSeconds(2));
  }

  /**
   * How a turn survives upstream faults. A transient fault is retried on the same model
   * {@code retries} times with exponential backoff from {@code backoffInitial} to
   * {@code backoffMax} (a server's Retry-After is honoured up to {@code retryAfterCap}), then the
   * turn moves to the next candidate. A model that failed is cooled down for the next
   * {@code cooldowns} step (reset after a success) so later turns skip it. A context overflow
   * is compacted and retried at most {@code overflowRetries} times. {@code midStream} says what
   * becomes of an answer already streamed when its model fails.
   */
  public record Failover(int retries, Duration backoffInitial, Duration backoffMax, Duration retryAfterCap,
      List<Duration> cooldowns, int overflowRetries, MidStream midStream) {
    public static final Failover DEFAULTS = new Failover(2, Duration.ofMillis(200), Duration.ofSeconds(2),
        Duration.ofSeconds(10), List.of(Duration.ofSeconds(30), Duration.ofMinutes(1), Duration.ofMinutes(5)), 3,
        MidStream.CONTINUE);

    public Failover {
      cooldowns = List.copyOf(cooldowns);
    }
  }

  /**
   * What happens to text already streamed when its model fails. {@code CONTINUE}: it stands, and
   * the next call is asked to carry on from where it stops, so a client that knows nothing of
   * failover still assembles one coherent answer. {@code RESTART}: it is void, the next call
   * starts from scratch, and clients are told to discard what they showed.
   */
  public enum MidStream {
    CONTINUE,
    RESTART;

    /** The config and header spelling: {@code continue} or {@code restart}; null when it is neither. */
    public static MidStream parse(String name) {
      return switch (name) {
        case "continue" -> CONTINUE;
        case "restart" -> RESTART;
        default -> null;
      };
    }
  }

  /**
   * Conversation actors: a snapshot every {@code snapshotEvery} events keeps recovery of long
   * conversations fast; an idle conversation leaves memory after {@code passivateAfter}, or as
   * soon as its turn ends while the node holds more than {@code maxResident}. A conversation
   * whose journal write failed restarts after {@code journalBackoffInitial}, doubling up to
   * {@code journalBackoffMax} while the database stays down.
   */
  public record Conversations(int snapshotEvery, Duration passivateAfter, int maxResident,
      Duration journalBackoffInitial, Duration journalBackoffMax) {
    /** About 100 MiB of heap at the 20-50 KiB a resident conversation holds. */
    public static final Conversations DEFAULTS =
        new Conversations(100, Duration.ofMinutes(2), 2000, Duration.ofMillis(200), Duration.ofSeconds(5));
  }

  /**
   * Conversations of clients that named none (no session key) are erased {@code keyless} after
   * their last turn; a sweep every {@code sweepInterval} finds them. Named conversations stay.
   */
  public record Retention(Duration keyless, Duration sweepInterval) {
    public static final Retention DEFAULTS = new Retention(Duration.ofDays(30), Duration.ofHours(1));
  }

  /**
   * How long a model call may take before it counts as failed. A cold local model can take
   * minutes to load before its first token, so local servers get a longer first-token timeout
   * than hosted ones; once tokens flow, a gap longer than {@code idle} means the stream is dead.
   * A provider's {@code timeoutSeconds} replaces the first-token timeout for that provider.
   */
  public record Upstream(Duration localFirstToken, Duration hostedFirstToken, Duration idle) {
    public static final Upstream DEFAULTS =
        new Upstream(Duration.ofSeconds(300), Duration.ofSeconds(120), Duration.ofSeconds(60));

    /** The first-token timeout for a call to {@code provider}. */
    public Duration firstToken(Provider provider) {
      if (provider.timeout() != null) {
        return provider.timeout();
      }
      return provider.isLocal() ? localFirstToken : hostedFirstToken;
    }
  }

  /** The event journal: an embedded H2 file (default) or PostgreSQL. */
  public record Storage(Type type, String url, String user, String password) {
    @Override
    public String toString() {
      return "Storage[type=" + type + ", url=" + url + ", user=" + user + ", password=" + Secrets.masked(password)
          + "]";
    }

    public enum Type {
      H2,
      POSTGRES
    }

    /**
     * What an H2 URL must set, if it sets it, for a commit to survive a killed or stopping
     * process: each commit written at once, and always appended, since H2 may not find again
     * after a kill a commit it wrote into reused space (measured: 3 of 20 kills lost one); and the
     * database left open when the JVM exits, since Talon closes it itself as the last step of a
     * stop: H2's own exit hook closed it at SIGTERM, while the turns a stopping node lets finish
     * were still being journaled (their answers then ended without completing).
     */
    public static final List<Map.Entry<String, String>> DURABLE_H2 = List.of(Map.entry("WRITE_DELAY", "0"),
        Map.entry("REUSE_SPACE", "FALSE"), Map.entry("DB_CLOSE_ON_EXIT", "FALSE"));

    /** The value of setting {@code name} in an H2 URL, if the URL sets it. */
    public static Optional<String> h2Setting(String url, String name) {
      return Arrays.stream(url.split(";")).map(setting -> setting.split("=", 2))
          .filter(pair -> pair.length == 2 && pair[0].strip().equalsIgnoreCase(name))
          .map(pair -> pair[1].strip()).reduce((first, last) -> last);
    }
  }

  /**
   * Pekko cluster membership. With no seed nodes the process forms a one-node cluster by itself.
   *
   * @param port 0 picks a free port
   * @param seedNodes full addresses, {@code pekko://talon@host:port}
   * @param tls how nodes prove themselves to each other; required beyond loopback
   * @param downAfter how long a member must stay unreachable, with nothing else changing, before
   *     the split-brain resolver downs it and its conversations move to the survivors
   */
  public record Cluster(String host, int port, List<String> seedNodes, Optional<Tls> tls, Duration downAfter) {
    /** The actor system's name, so an address reads {@code pekko://talon@host:port}. */
    public static final String SYSTEM_NAME = "talon";
    /** Pekko's own default: long enough for a stop-the-world pause or a brief network glitch. */
    public static final Duration DEFAULT_DOWN_AFTER = Duration.ofSeconds(20);
    public static final Cluster SINGLE_NODE =
        new Cluster("127.0.0.1", 0, List.of(), Optional.empty(), DEFAULT_DOWN_AFTER);

    public Cluster {
      seedNodes = List.copyOf(seedNodes);
    }

    /** Seed nodes name the members to join, so the node is meant to share its journal with others. */
    public boolean multiNode() {
      return !seedNodes.isEmpty();
    }
  }

  /**
   * Artery TLS with mutual authentication: a node joins only with a certificate the others trust.
   * Paths are Java key stores (PKCS12 or JKS) as {@code keytool} makes them.
   */
  public record Tls(String keyStore, String keyStorePassword, String keyPassword, String trustStore,
      String trustStorePassword) {
    @Override
    public String toString() {
      return "Tls[keyStore=" + keyStore + ", keyStorePassword=" + Secrets.masked(keyStorePassword) + ", keyPassword="
          + Secrets.masked(keyPassword) + ", trustStore=" + trustStore + ", trustStorePassword="
          + Secrets.masked(trustStorePassword) + "]";
    }
  }
}
