package dev.talon.gateway;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.Executor;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BiFunction;
import java.util.function.Function;
import org.apache.pekko.Done;
import org.apache.pekko.NotUsed;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.pattern.Patterns;
import org.apache.pekko.stream.ActorAttributes;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.StreamSubscriptionTimeoutTerminationMode;
import org.apache.pekko.stream.javadsl.AsPublisher;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.reactivestreams.Publisher;

/**
 * The turns a node is serving. It caps them, so that a burst of requests gets quick 429s instead
 * of piling onto the models and the journal until connections are dropped; and it lets a
 * stopping node refuse new turns while the running ones are answered to their end. A turn holds
 * its place until its answer has been sent: for a stream, until the stream ends.
 */
final class Admission {
  /**
   * Pekko's completion stages are views of Scala futures, which run every callback added without
   * an executor on the common pool: a thread woken for each turn, to give back its place. The
   * release is a counter; it runs on the thread that ends the stream instead.
   */
  private static final Executor WHERE_THE_STREAM_ENDS = Runnable::run;
  private final int max;
  private final Materializer materializer;
  /** How long a started answer waits for the server to take it before it is cancelled. */
  private final Duration untaken;
  private final CompletableFuture<Done> drained = new CompletableFuture<>();
  private int running;
  /** Completed while no turn holds a place; a new one each time the first turn takes one. */
  private CompletableFuture<Done> idle = CompletableFuture.completedFuture(Done.getInstance());
  /** When the last turn gave its place back ({@link System#nanoTime}), if one has. */
  private long lastEnded;
  private boolean anyEnded;
  private boolean draining;

  /**
   * @param statusLineHeld how long an answer may be held back before the server is given it (its
   *     first events may decide the status line); the materializer's subscription timeout, the
   *     time a stream handed over may take to be taken, comes on top
   */
  Admission(int maxConcurrentTurns, Duration statusLineHeld, Materializer materializer) {
    this.max = maxConcurrentTurns;
    this.materializer = materializer;
    this.untaken = statusLineHeld.plus(materializer.system().settings().config()
        .getDuration("pekko.stream.materializer.subscription-timeout.timeout"));
  }

  /**
   * {@code handler} run only when a place is free (else a 429) and the node is not stopping (else a
   * 503). A streamed answer must come from {@link Place#running}, so that an answer the server
   * never sends (the client left first) still gives its place back.
   */
  Function<HttpRequest, CompletionStage<HttpResponse>> limiting(
      BiFunction<HttpRequest, Place, CompletionStage<HttpResponse>> handler) {
    return request -> {
      enter();
      Place place = new Place();
      CompletionStage<HttpResponse> response;
      try {
        response = handler.apply(request, place);
      } catch (RuntimeException e) {
        place.release();
        throw e;
      }
      return response.whenComplete((answer, failure) -> {
        if (failure != null || answer.entity().isStrict()) {
          place.release();
        }
      }).thenApply(answer -> answer.entity().isStrict() ? answer : heldUntilSent(answer, place));
    };
  }

  /** A turn's place among the running ones: given back once, however many ways its answer ends. */
  final class Place {
    private final AtomicBoolean held = new AtomicBoolean(true);
    /** Set when the server takes the answer's stream; from then on the server's end of it releases the place. */
    private volatile boolean taken;

    void release() {
      if (held.compareAndSet(true, false)) {
        exit();
      }
    }

    /**
     * Starts {@code body} now, ahead of the response (its first events may decide the status
     * line), and returns what the server is to send. The stream runs in an island of its own, so
     * one that the server never takes is cancelled once its status line could have been held and
     * the server given time to take it, which gives the place back. (Pekko's subscription timeout
     * alone, shorter than the hold, cut the answer of a model slow to start.)
     */
    <T> Source<T, NotUsed> running(Source<T, NotUsed> body) {
      Publisher<T> publisher = body.watchTermination((mat, ended) -> {
        ended.whenCompleteAsync((done, failure) -> {
          if (!taken) {
            release();
          }
        }, WHERE_THE_STREAM_ENDS);
        return mat;
      }).toMat(Sink.asPublisher(AsPublisher.WITHOUT_FANOUT), Keep.right())
          .addAttributes(ActorAttributes.streamSubscriptionTimeout(untaken,
              StreamSubscriptionTimeoutTerminationMode.cancel()))
          .run(materializer);
      return Source.fromPublisher(publisher).mapMaterializedValue(mat -> {
        taken = true;
        return mat;
      });
    }
  }

  /** Lets no new turn in; completes once the running ones have been answered to their end. */
  CompletionStage<Done> drain() {
    boolean idle;
    synchronized (this) {
      draining = true;
      idle = running == 0;
    }
    if (idle) {
      drained.complete(Done.getInstance());
    }
    return drained;
  }

  synchronized boolean draining() {
    return draining;
  }

  /** The turns holding a place now. */
  synchronized int running() {
    return running;
  }

  /**
   * Completes once no turn has held a place for {@code quiet}: at once if none does and none has
   * within it.
   */
  CompletionStage<Done> quietFor(Duration quiet) {
    CompletionStage<Done> noneRunning;
    synchronized (this) {
      noneRunning = idle;
    }
    return noneRunning.thenCompose(done -> {
      long left = quiet.toNanos() - sinceLastEnded();
      return left <= 0 ? CompletableFuture.completedStage(done)
          : Patterns.after(Duration.ofNanos(left), materializer.system().scheduler(),
              materializer.executionContext(), () -> quietFor(quiet));
    });
  }

  private synchronized long sinceLastEnded() {
    return anyEnded ? System.nanoTime() - lastEnded : Long.MAX_VALUE;
  }

  private synchronized void enter() {
    if (draining) {
      throw ApiError.unavailable("Talon is shutting down and takes no new turns; try again on another node"
          + " or once it is back.");
    }
    if (running >= max) {
      throw ApiError.tooManyTurns(max);
    }
    if (running++ == 0) {
      idle = new CompletableFuture<>();
    }
  }

  private void exit() {
    CompletableFuture<Done> nowIdle;
    boolean last;
    synchronized (this) {
      nowIdle = --running == 0 ? idle : null;
      lastEnded = System.nanoTime();
      anyEnded = true;
      last = nowIdle != null && draining;
    }
    if (nowIdle != null) {
      nowIdle.complete(Done.getInstance());
    }
    if (last) {
      drained.complete(Done.getInstance());
    }
  }

  /**
   * Releases the place when the body's stream ends, as the server sends it: no island of its own,
   * since the body already runs in one (see {@link Place#running}).
   */
  private static HttpResponse heldUntilSent(HttpResponse response, Place place) {
    var body = response.entity().getDataBytes().watchTermination((mat, ended) -> {
      ended.whenCompleteAsync((done, failure) -> place.release(), WHERE_THE_STREAM_ENDS);
      return mat;
    });
    return response.withEntity(HttpEntities.createChunked(response.entity().getContentType(), body));
  }
}
