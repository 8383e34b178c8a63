package dev.talon.bench;

import static dev.talon.bench.ConversationBench.closeH2;
import static dev.talon.bench.ConversationBench.pct;
import static dev.talon.bench.ConversationBench.say;
import static dev.talon.bench.ConversationBench.usedHeapAfterGc;

import dev.talon.cluster.JournalDatabase;
import dev.talon.cluster.TalonRuntime;
import dev.talon.compaction.TokenEstimate;
import dev.talon.config.ConfigLoader;
import dev.talon.config.Model;
import dev.talon.config.TalonConfig;
import dev.talon.conversation.ConversationEntity.Context;
import dev.talon.conversation.ConversationEntity.State;
import dev.talon.conversation.ConversationEntity.StartReply;
import dev.talon.conversation.ConversationEntity.Transcript;
import dev.talon.conversation.ConversationEntity.TurnAccepted;
import dev.talon.conversation.Cooldowns;
import dev.talon.conversation.FailoverRunner;
import dev.talon.conversation.TurnEvent;
import dev.talon.conversation.NodeMetrics;
import dev.talon.upstream.ModelClient;
import dev.talon.upstream.ModelEvent;
import dev.talon.upstream.ModelRequest;
import java.lang.ref.Reference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.pekko.NotUsed;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.apache.pekko.serialization.Serializers;
import org.apache.pekko.stream.javadsl.Source;

/**
 * What compaction buys a long conversation and what it costs: the same turns (user 50–400
 * chars, answers 100–1,500) on a model with a small window, which compacts, and on one whose
 * window is so large that nothing is ever compacted, both in one run on one node (H2 journal).
 * Per conversation length it prints turns/s, turn wall time, time spent compacting per turn,
 * summariser calls, recovery time of the entity on a fresh node, and the size of its recovered
 * state (snapshot bytes and heap), with the ratios with / without.
 *
 * <p>The upstream is an in-process {@link ModelClient} ({@link InstantModel}) behind the node's
 * own {@link FailoverRunner}: it answers at once with the text the bench chose for the turn (a
 * summariser request gets a summary of 1,500-3,500 chars, which Talon cuts to its cap), its
 * usage and a stop, with no HTTP, no serialization and no wait. So the numbers are Talon's own
 * costs: the entity, the journal and the compaction logic. An HTTP fake would mostly measure
 * the wire: the conversation without compaction resends its whole history every turn, so at
 * 10,000 turns it would upload about 50 GB over loopback, in requests past Pekko's 8 MB limit.
 *
 * <p>Usage: bench/run CompactionBench [turns...] (default 1000 10000).
 */
public final class CompactionBench {
  /** How every summariser request's instructions begin (Summaries.INSTRUCTIONS). */
  static final String SUMMARISER = "You maintain the memory of a long conversation";
  /** Fresh nodes per conversation, each timing one recovery: the median is printed. */
  static final int RECOVERIES = 3;
  static final int WARM_UP_TURNS = 100;
  static final String WITH = "fake/small";
  static final String WITHOUT = "fake/huge";

  public static void main(String[] args) {
    BenchMain.run(args, CompactionBench::run);
  }

  static void run(String[] args) throws Exception {
    List<Integer> lengths = new ArrayList<>();
    for (String arg : args) {
      lengths.add(Integer.parseInt(arg));
    }
    if (lengths.isEmpty()) {
      lengths = List.of(1000, 10_000);
    }
    Path data = Files.createTempDirectory("talon-bench-compaction");
    try {
      // The base URL is never dialled: every call goes to the in-process client.
      TalonConfig config = ConfigLoader.parse("{ models: { mode: 'replace', providers: { fake: { baseUrl:"
          + " 'http://127.0.0.1:9/v1', api: 'openai-responses', models: [{ id: 'small', contextWindow: 8192,"
          + " maxTokens: 1024 }, { id: 'huge', contextWindow: 100000000 }] } } } }", "bench",
          Map.<String, String>of()::get);
      InstantModel model = new InstantModel();
      FailoverRunner runner = new FailoverRunner(model, new Cooldowns(config.talon().failover().cooldowns(),
          Clock.systemUTC()), config.talon().failover(), new NodeMetrics(config.catalog().models()));
      System.out.printf("compaction bench: the same turns (user 50-400 chars, answers 100-1,500) with compaction"
          + " (%s: contextWindow 8192, maxTokens 1024, compaction defaults) and without (%s: contextWindow"
          + " 100,000,000, never compacts); one node, H2 journal, snapshot every %d events.%n"
          + "upstream: an in-process model client that answers at once (summaries 1,500-3,500 chars, cut by"
          + " Talon to its cap), no HTTP: the numbers are Talon's own costs (entity, journal, compaction);"
          + " over HTTP the leg without compaction would resend tens of GB of history at 10,000 turns%n",
          WITH, WITHOUT, config.talon().conversations().snapshotEvery());

      TalonRuntime runtime = ConversationBench.start(config, data, (system, metrics) -> runner);
      // The JIT and the journal warm up on both paths; their conversations warm the fresh nodes' deserializers.
      List<Leg> warmUps = List.of(new Leg("warm-up with", WITH, WARM_UP_TURNS),
          new Leg("warm-up without", WITHOUT, WARM_UP_TURNS));
      for (Leg leg : warmUps) {
        leg.drive(runtime, model);
      }
      // Each length is printed as soon as it is measured, so a run stopped in a long leg keeps the shorter ones.
      for (int turns : lengths) {
        if (runtime == null) {
          runtime = ConversationBench.start(config, data, (system, metrics) -> runner);
        }
        Leg with = new Leg("with", WITH, turns);
        Leg without = new Leg("without", WITHOUT, turns);
        with.drive(runtime, model);
        without.drive(runtime, model);
        runtime.close();
        runtime = null;
        closeH2(JournalDatabase.defaultH2Url(data));

        // A node of its own for every recovery: the first conversation a node reads after the
        // warm-ups pays for what is still cold (H2's pages, the shard), and each leg should pay alike.
        for (int round = 0; round < RECOVERIES; round++) {
          for (Leg leg : List.of(with, without)) {
            TalonRuntime fresh = ConversationBench.start(config, data, (system, metrics) -> runner);
            for (Leg warmUp : warmUps) {
              warmUp.transcript(fresh);
            }
            leg.recover(fresh, round == RECOVERIES - 1);
            fresh.close();
            closeH2(JournalDatabase.defaultH2Url(data));
          }
        }
        print(with, without);
        System.out.flush();
      }
    } finally {
      GatewayBench.deleteQuietly(data);
    }
  }

  /**
   * The upstream of this bench: a model that answers every call at once, in process. A turn's
   * call gets {@link #answer}, a summariser's a summary of 1,500-3,500 chars (the same ones in
   * every run); then usage as Talon estimates it, and a stop. Counts both kinds of call.
   */
  static final class InstantModel implements ModelClient {
    final AtomicInteger turnCalls = new AtomicInteger();
    final AtomicInteger summariserCalls = new AtomicInteger();
    final AtomicLong promptTokens = new AtomicLong();
    /** What the next turn's call answers; set by the bench before each turn. */
    volatile String answer = "";

    @Override
    public Source<ModelEvent, NotUsed> stream(Model model, ModelRequest request) {
      // Lazy, as a cold source must be: each materialization is one call.
      return Source.lazySource(() -> {
        String text;
        if (request.instructions() != null && request.instructions().startsWith(SUMMARISER)) {
          text = text(new Random(summariserCalls.incrementAndGet()), 1500, 3500);
        } else {
          turnCalls.incrementAndGet();
          text = answer;
        }
        long input = TokenEstimate.of(request);
        promptTokens.addAndGet(input);
        return Source.<ModelEvent>from(List.of(new ModelEvent.TextDelta(text),
            new ModelEvent.Usage(input, TokenEstimate.ofText(text), 0, 0),
            new ModelEvent.Completed(ModelEvent.FinishReason.STOP)));
      }).mapMaterializedValue(ignored -> NotUsed.getInstance());
    }
  }

  /** One conversation: its turns driven one after the other, then its recoveries. */
  static final class Leg {
    final String name;
    final String model;
    final int turns;
    final String session;
    double drivingSeconds;
    final List<Double> turnMs = new ArrayList<>();
    final List<Double> compactingTurnMs = new ArrayList<>();
    int inTurn;
    long inTurnNanos;
    int afterTurn;
    long afterTurnNanos;
    int compactions;
    int summariserCalls;
    int turnCalls;
    long promptTokens;
    int budgetTokens;
    final List<Double> recoveryMs = new ArrayList<>();
    int heldTurns;
    long snapshotBytes;
    long heapBytes;
    int heapCopies;

    Leg(String name, String model, int turns) {
      this.name = name;
      this.model = model;
      this.turns = turns;
      this.session = name.replace(' ', '-') + "-" + turns;
    }

    /**
     * Every leg draws from the same seed, so both legs of a length say and hear the same. A turn
     * starts once the compaction that the previous one started in the background has ended, as
     * it would with a user who reads the answer first.
     */
    void drive(TalonRuntime runtime, InstantModel upstream) throws Exception {
      System.err.printf("driving %s, %d turns on %s%n", name, turns, model);
      Random random = new Random(42);
      // One leg at a time: what the counters gained while it ran is its own.
      int summariserBefore = upstream.summariserCalls.get();
      int turnCallsBefore = upstream.turnCalls.get();
      long promptBefore = upstream.promptTokens.get();
      long start = System.nanoTime();
      int known = 0; // the compactions the state held after the previous turn
      for (int i = 0; i < turns; i++) {
        upstream.answer = text(random, 100, 1500);
        long turnStart = System.nanoTime();
        TurnTiming timing = turn(runtime, text(random, 50, 400));
        double ms = (System.nanoTime() - turnStart) / 1e6;
        turnMs.add(ms);
        if (timing.compactions > 0) {
          compactingTurnMs.add(ms);
          inTurn += timing.compactions;
          inTurnNanos += timing.compactingNanos;
        }
        Context context = context(runtime);
        if (context.tokens() > context.budgetTokens()) {
          // Over budget after the turn: the entity is compacting in the background.
          context = awaitCompaction(runtime, context.compactions());
        }
        // Counted by the state, since one may have ended before the first ask above.
        if (context.compactions() > known + timing.compactions) {
          afterTurn++;
          // From the client's Completed, which the entity sends just before it starts the compaction.
          afterTurnNanos += Math.max(0, Duration.between(timing.completedAt, context.latest().at()).toNanos());
        }
        known = context.compactions();
        if (turns >= 1000 && (i + 1) % (turns / 10) == 0) {
          System.err.printf("  %,d turns, %.1f s%n", i + 1, (System.nanoTime() - start) / 1e9);
        }
        if (i == turns - 1) {
          compactions = context.compactions();
          budgetTokens = context.budgetTokens();
        }
      }
      drivingSeconds = (System.nanoTime() - start) / 1e9;
      summariserCalls = upstream.summariserCalls.get() - summariserBefore;
      turnCalls = upstream.turnCalls.get() - turnCallsBefore;
      promptTokens = upstream.promptTokens.get() - promptBefore;
      System.err.printf("  %d turns in %.1f s%n", turns, drivingSeconds);
    }

    /** What a turn's events showed: the compactions before its model calls, and when it completed. */
    static final class TurnTiming {
      int compactions;
      long compactingNanos;
      long compactionStart;
      Instant completedAt;
    }

    TurnTiming turn(TalonRuntime runtime, String input) throws Exception {
      StartReply reply = runtime.conversations().startTurn(session, null, model, say(input), null)
          .toCompletableFuture().get(60, TimeUnit.SECONDS);
      if (!(reply instanceof TurnAccepted accepted)) {
        throw new IllegalStateException(session + ": turn not accepted: " + reply);
      }
      TurnTiming timing = new TurnTiming();
      TurnEvent last = accepted.events().source().runFold((TurnEvent) null, (previous, event) -> {
        if (event instanceof TurnEvent.CompactionStarted) {
          timing.compactionStart = System.nanoTime();
        } else if (event instanceof TurnEvent.Compacted) {
          timing.compactions++;
          timing.compactingNanos += System.nanoTime() - timing.compactionStart;
        } else if (event instanceof TurnEvent.Completed) {
          timing.completedAt = Instant.now();
        }
        return event;
      }, runtime.system()).toCompletableFuture().get(300, TimeUnit.SECONDS);
      if (!(last instanceof TurnEvent.Completed)) {
        throw new IllegalStateException(session + ": turn ended with " + last);
      }
      return timing;
    }

    Context context(TalonRuntime runtime) throws Exception {
      return runtime.conversations().context(session).toCompletableFuture().get(60, TimeUnit.SECONDS);
    }

    Context awaitCompaction(TalonRuntime runtime, int before) throws Exception {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
      Context context = context(runtime);
      while (context.compactions() == before) {
        if (System.nanoTime() > deadline) {
          throw new IllegalStateException(session + ": the compaction after a turn did not end in 60 s");
        }
        Thread.sleep(1);
        context = context(runtime);
      }
      return context;
    }

    Transcript transcript(TalonRuntime runtime) throws Exception {
      return runtime.conversations().transcript(session).toCompletableFuture().get(120, TimeUnit.SECONDS);
    }

    /** The first answer of a fresh incarnation; {@code measureState}: then the size of what it recovered. */
    void recover(TalonRuntime runtime, boolean measureState) throws Exception {
      long start = System.nanoTime();
      Transcript transcript = transcript(runtime);
      recoveryMs.add((System.nanoTime() - start) / 1e6);
      if (measureState) {
        Context context = context(runtime);
        heldTurns = transcript.turns().size();
        // The state as a snapshot now would hold it; the resent-history fingerprint (a count and
        // a hash) and the turns' sizes are recomputed from the turns, and the provider's last
        // count left out: a few dozen bytes.
        measureState(runtime, new State(transcript.turns(), transcript.turnCount(), context.latest(),
            context.compactions(), null, null, null));
      }
    }

    /**
     * Snapshot bytes as the snapshot store writes them (Pekko's jackson-json, gzipped above
     * 32 KiB); heap as MemoryMXBean's used heap after GC around copies deserialized from those
     * bytes, the way recovery from a snapshot builds the state, so nothing else on the node
     * (H2's page cache) counts.
     */
    void measureState(TalonRuntime runtime, State state) throws Exception {
      Serialization serialization = SerializationExtension.get(runtime.system().classicSystem());
      Serializer serializer = serialization.findSerializerFor(state);
      String manifest = Serializers.manifestFor(serializer, state);
      byte[] bytes = serialization.serialize(state).get();
      snapshotBytes = bytes.length;
      // Enough copies that a small state stands out of the collector's noise.
      heapCopies = (int) Math.max(1, Math.min(200, 20_000_000 / Math.max(1, bytes.length)));
      List<Object> copies = new ArrayList<>(heapCopies);
      long before = usedHeapAfterGc();
      for (int i = 0; i < heapCopies; i++) {
        copies.add(serialization.deserialize(bytes, serializer.identifier(), manifest).get());
      }
      heapBytes = (usedHeapAfterGc() - before) / heapCopies;
      Reference.reachabilityFence(copies);
    }

    double compactingMsPerTurn() {
      return (inTurnNanos + afterTurnNanos) / 1e6 / turns;
    }
  }

  static void print(Leg with, Leg without) {
    System.out.printf("%n%,d turns (budget of %s: %,d prompt tokens; recovery: %d fresh nodes per conversation)%n", with.turns,
        WITH, with.budgetTokens, RECOVERIES);
    System.out.printf("%-62s %14s %14s %12s%n", "", "with", "without", "with/without");
    row("turns/s (one after the other, incl. background compactions)", with.turns / with.drivingSeconds, without.turns / without.drivingSeconds, "%,.1f");
    row("turn wall time p50, ms", pct(with.turnMs, 50), pct(without.turnMs, 50), "%,.2f");
    row("turn wall time p99, ms", pct(with.turnMs, 99), pct(without.turnMs, 99), "%,.2f");
    row("compactions (in the entity's state)", with.compactions, without.compactions, "%,.0f");
    row("  in a turn, before its model call", with.inTurn, without.inTurn, "%,.0f");
    row("  after a turn, in the background", with.afterTurn, without.afterTurn, "%,.0f");
    row("time compacting per turn, ms (in turns + after turns) / turns", with.compactingMsPerTurn(),
        without.compactingMsPerTurn(), "%,.3f");
    row("  in turns only, ms per turn", with.inTurnNanos / 1e6 / with.turns,
        without.inTurnNanos / 1e6 / without.turns, "%,.3f");
    if (!with.compactingTurnMs.isEmpty()) {
      System.out.printf("  wall time p50 of the %d turns that compacted: %,.2f ms%n", with.compactingTurnMs.size(),
          pct(with.compactingTurnMs, 50));
    }
    row("summariser calls (counted by the in-process client)", with.summariserCalls, without.summariserCalls, "%,.0f");
    row("turn calls (counted by the in-process client)", with.turnCalls, without.turnCalls, "%,.0f");
    row("prompt tokens sent per call (TokenEstimate), mean", (double) with.promptTokens
        / Math.max(1, with.turnCalls + with.summariserCalls), (double) without.promptTokens
        / Math.max(1, without.turnCalls + without.summariserCalls), "%,.0f");
    row("turns held by the entity", with.heldTurns, without.heldTurns, "%,.0f");
    row("recovery, fresh node to first transcript, median, ms", pct(with.recoveryMs, 50),
        pct(without.recoveryMs, 50), "%,.1f");
    System.out.printf("  recovery samples, ms: with %s, without %s%n", samples(with.recoveryMs),
        samples(without.recoveryMs));
    row("recovered State as a snapshot (jackson-json), KB", with.snapshotBytes / 1024.0,
        without.snapshotBytes / 1024.0, "%,.1f");
    row(String.format("recovered State on the heap (MemoryMXBean, %d / %d copies), KB", with.heapCopies,
        without.heapCopies), with.heapBytes / 1024.0, without.heapBytes / 1024.0, "%,.1f");
  }

  static String samples(List<Double> ms) {
    return ms.stream().map(m -> String.format("%.1f", m)).toList().toString();
  }

  static void row(String label, double with, double without, String format) {
    String ratio = without == 0 ? "-" : String.format("%.3f", with / without);
    System.out.printf("%-62s %14s %14s %12s%n", label, String.format(format, with), String.format(format, without),
        ratio);
  }

  static final String[] WORDS = vocabulary();

  /** A few hundred made-up words: text that compresses about as well as prose. */
  static String[] vocabulary() {
    Random random = new Random(7);
    String[] words = new String[600];
    for (int i = 0; i < words.length; i++) {
      StringBuilder word = new StringBuilder();
      for (int n = 2 + random.nextInt(8); n > 0; n--) {
        word.append((char) ('a' + random.nextInt(26)));
      }
      words[i] = word.toString();
    }
    return words;
  }

  /** Sentences of made-up words, about {@code min} to {@code max} characters long. */
  static String text(Random random, int min, int max) {
    int length = min + random.nextInt(max - min + 1);
    StringBuilder text = new StringBuilder(length + 16);
    while (text.length() < length) {
      text.append(WORDS[random.nextInt(WORDS.length)]).append(random.nextInt(10) == 0 ? ". " : " ");
    }
    return text.substring(0, length).strip();
  }
}
