package dev.talon.upstream;

import dev.talon.config.Model;
import dev.talon.config.Provider;
import dev.talon.config.TalonSettings;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.ClassicActorSystemProvider;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpMethods;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.Uri;
import org.apache.pekko.http.javadsl.settings.ServerSentEventSettings;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.SubscriptionWithCancelException;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;

/**
 * Streams model calls over Pekko HTTP's client. Connections come from Pekko's pool per host,
 * which application.conf sizes for long generations (the default of 4 would throttle every
 * upstream to 4 concurrent streams).
 */
public final class HttpModelClient implements ModelClient {
  /** How much of an error body is read to classify it; the rest is not worth waiting for. */
  private static final int ERROR_BODY_LIMIT = 64 * 1024;

  private static final Duration ERROR_BODY_TIMEOUT = Duration.ofSeconds(10);

  private static final int STALE_CONNECTION_RESENDS = 3;

  private final Http http;
  private final Materializer materializer;
  private final TalonSettings.Upstream timeouts;
  private final ServerSentEventSettings eventLimits;
  /** Each model's URL, parsed once: parsing it again on every call showed in the allocation profile. */
  private final Map<String, Uri> uris = new ConcurrentHashMap<>();

  public HttpModelClient(ClassicActorSystemProvider system, TalonSettings.Upstream timeouts) {
    this.http = Http.get(system.classicSystem());
    this.materializer = Materializer.matFromSystem(system);
    this.timeouts = timeouts;
    this.eventLimits = ServerSentEventSettings.create(system.classicSystem());
  }

  @Override
  public Source<ModelEvent, NotUsed> stream(Model model, ModelRequest request) {
    if (!model.provider().available()) {
      return Source.failed(new UpstreamException(UpstreamFailure.of(UpstreamFailure.Kind.UNAVAILABLE,
          model.provider().unavailableReason())));
    }
    UpstreamCall call = UpstreamCalls.encode(model, request, true);
    HttpRequest httpRequest = HttpRequest.create().withMethod(HttpMethods.POST)
        .withUri(uris.computeIfAbsent(call.url(), Uri::create))
        .withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON, call.bodyBytes()))
        .addHeaders(headers(call.headers()));
    List<String> secrets = model.secrets();
    return Source.fromGraph(new ModelCall(new HttpExchange(httpRequest, model.provider()),
            () -> StreamParser.forApi(call.api(), model.thinkTags()), eventLimits,
            timeouts.firstToken(model.provider()), timeouts.idle()))
        .mapError(UpstreamException.class, e -> {
          UpstreamFailure redacted = e.failure().redacting(secrets);
          return redacted == e.failure() ? e : new UpstreamException(redacted);
        });
  }

  /** The request of one call to a model's server, and what its answers mean. */
  private final class HttpExchange implements ModelCall.Exchange {
    private final HttpRequest httpRequest;
    private final Provider provider;

    HttpExchange(HttpRequest httpRequest, Provider provider) {
      this.httpRequest = httpRequest;
      this.provider = provider;
    }

    @Override
    public CompletionStage<HttpResponse> send() {
      return request(httpRequest, STALE_CONNECTION_RESENDS);
    }

    @Override
    public CompletionStage<UpstreamException> refusal(HttpResponse response) {
      return !response.status().isSuccess() ? failure(response)
          : isEventStream(response) ? null
          : notAnEventStream(response);
    }

    @Override
    public UpstreamException unreachable(Throwable failure) {
      return ErrorClassifier.connecting(failure, provider);
    }
  }

  /**
   * Pekko's pool can hand a request to a pooled connection that a cancelled stream is still closing;
   * the request then fails with that cancellation before any response. It never reached a live
   * connection, so it is sent again at once rather than counted as an upstream fault.
   */
  private CompletionStage<HttpResponse> request(HttpRequest httpRequest, int resends) {
    return http.singleRequest(httpRequest).exceptionallyCompose(e -> resends > 0 && closedByACancelledStream(e)
        ? request(httpRequest, resends - 1)
        : CompletableFuture.failedStage(e));
  }

  private static boolean closedByACancelledStream(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof SubscriptionWithCancelException.NonFailureCancellation) {
        return true;
      }
    }
    return false;
  }

  private static boolean isEventStream(HttpResponse response) {
    return response.entity().getContentType().mediaType().equals(MediaTypes.TEXT_EVENT_STREAM);
  }

  private CompletionStage<UpstreamException> failure(HttpResponse response) {
    Duration retryAfter = ErrorClassifier.parseRetryAfter(
        response.getHeader("Retry-After").map(HttpHeader::value).orElse(null),
        response.getHeader("retry-after-ms").map(HttpHeader::value).orElse(null));
    int status = response.status().intValue();
    return body(response).thenApply(body -> new UpstreamException(ErrorClassifier.fromHttp(status, body, retryAfter)));
  }

  /** A success that is not a stream (a server that ignored {@code stream: true}, or a proxy's page). */
  private CompletionStage<UpstreamException> notAnEventStream(HttpResponse response) {
    String type = response.entity().getContentType().toString();
    return body(response).thenApply(body -> StreamParser.truncated("the server answered "
        + response.status().intValue() + " with " + type + " instead of an event stream: "
        + Frames.shown(body)));
  }

  /** The start of the body, as much of it as is worth waiting for. */
  private CompletionStage<String> body(HttpResponse response) {
    return response.entity().getDataBytes()
        .takeWithin(ERROR_BODY_TIMEOUT)
        .runFold(ByteString.emptyByteString(),
            (body, chunk) -> body.size() >= ERROR_BODY_LIMIT ? body : body.concat(chunk), materializer)
        .exceptionally(e -> ByteString.emptyByteString())
        .thenApply(body -> body.decodeString(StandardCharsets.UTF_8));
  }

  private static List<HttpHeader> headers(Map<String, String> headers) {
    List<HttpHeader> out = new ArrayList<>(headers.size());
    headers.forEach((name, value) -> {
      if (!name.equalsIgnoreCase("Content-Type")) { // carried by the entity
        out.add(RawHeader.create(name, value));
      }
    });
    return out;
  }
}
