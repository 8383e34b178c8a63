package dev.talon.gateway;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Function;
import org.apache.pekko.Done;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.stream.Materializer;

/**
 * The turns a node is serving. It caps them, so that a burst of requests gets quick 429s instead
 * of piling onto the models and the journal until connections are dropped; and it lets a
 * stopping node refuse new turns while the running ones are answered to their end. A turn holds
 * its place until its answer has been sent: for a stream, until the stream ends.
 */
final class Admission {
  private final int max;
  private final Materializer materializer;
  private final CompletableFuture<Done> drained = new CompletableFuture<>();
  private int running;
  private boolean draining;

  Admission(int maxConcurrentTurns, Materializer materializer) {
    this.max = maxConcurrentTurns;
    this.materializer = materializer;
  }

  /** {@code handler} run only when a place is free (else a 429) and the node is not stopping (else a 503). */
  Function<HttpRequest, CompletionStage<HttpResponse>> limiting(
      Function<HttpRequest, CompletionStage<HttpResponse>> handler) {
    return request -> {
      enter();
      CompletionStage<HttpResponse> response;
      try {
        response = handler.apply(request);
      } catch (RuntimeException e) {
        exit();
        throw e;
      }
      return response.whenComplete((answer, failure) -> {
        if (failure != null || answer.entity().isStrict()) {
          exit();
        }
      }).thenApply(answer -> answer.entity().isStrict() ? answer : heldUntilSent(answer));
    };
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

  private synchronized void enter() {
    if (draining) {
      throw ApiError.unavailable("Talon is shutting down and takes no new turns; try again on another node"
          + " or once it is back.");
    }
    if (running >= max) {
      throw ApiError.tooManyTurns(max);
    }
    running++;
  }

  private void exit() {
    boolean last;
    synchronized (this) {
      running--;
      last = draining && running == 0;
    }
    if (last) {
      drained.complete(Done.getInstance());
    }
  }

  /**
   * Releases the place when the body's stream ends. The body is started at once: a stream that
   * the server never sends (the client left first) is then cancelled by the materializer's
   * subscription timeout instead of holding its place for ever.
   */
  private HttpResponse heldUntilSent(HttpResponse response) {
    var body = response.entity().getDataBytes()
        .watchTermination((mat, ended) -> {
          ended.whenComplete((done, failure) -> exit());
          return mat;
        })
        .preMaterialize(materializer).second();
    return response.withEntity(HttpEntities.createChunked(response.entity().getContentType(), body));
  }
}
