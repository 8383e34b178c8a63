package dev.talon.gateway;

import java.util.concurrent.CompletionStage;
import java.util.concurrent.Semaphore;
import java.util.function.Function;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.stream.Materializer;

/**
 * Caps the turns a node serves at once, so that a burst of requests gets quick 429s instead of
 * piling onto the models and the journal until connections are dropped. A turn holds its place
 * until its answer has been sent: for a stream, until the stream ends.
 */
final class Admission {
  private final Semaphore places;
  private final int max;
  private final Materializer materializer;

  Admission(int maxConcurrentTurns, Materializer materializer) {
    this.places = new Semaphore(maxConcurrentTurns);
    this.max = maxConcurrentTurns;
    this.materializer = materializer;
  }

  /** {@code handler} run only when a place is free, else a 429. */
  Function<HttpRequest, CompletionStage<HttpResponse>> limiting(
      Function<HttpRequest, CompletionStage<HttpResponse>> handler) {
    return request -> {
      if (!places.tryAcquire()) {
        throw ApiError.tooManyTurns(max);
      }
      Runnable release = places::release;
      CompletionStage<HttpResponse> response;
      try {
        response = handler.apply(request);
      } catch (RuntimeException e) {
        release.run();
        throw e;
      }
      return response.whenComplete((answer, failure) -> {
        if (failure != null || answer.entity().isStrict()) {
          release.run();
        }
      }).thenApply(answer -> answer.entity().isStrict() ? answer : heldUntilSent(answer, release));
    };
  }

  /**
   * Releases the place when the body's stream ends. The body is started at once: a stream that
   * the server never sends (the client left first) is then cancelled by the materializer's
   * subscription timeout instead of holding its place for ever.
   */
  private HttpResponse heldUntilSent(HttpResponse response, Runnable release) {
    var body = response.entity().getDataBytes()
        .watchTermination((mat, ended) -> {
          ended.whenComplete((done, failure) -> release.run());
          return mat;
        })
        .preMaterialize(materializer).second();
    return response.withEntity(HttpEntities.createChunked(response.entity().getContentType(), body));
  }
}
