package dev.talon.upstream;

import dev.talon.config.Model;
import dev.talon.config.Provider;
import dev.talon.upstream.ModelRequest.Message;
import dev.talon.upstream.ModelRequest.Role;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.stream.Collectors;
import org.apache.pekko.actor.ClassicActorSystemProvider;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Sink;

/**
 * Asks a provider what it serves, and optionally makes each model answer a one-word request,
 * then says what is wrong in one line a user can act on.
 */
public final class ModelProbe {
  /** How many of a server's models a message names. */
  private static final int LISTED_IDS = 20;

  private final Http http;
  private final Materializer materializer;
  private final ModelClient client;
  private final Duration timeout;

  public ModelProbe(ClassicActorSystemProvider system, ModelClient client, Duration timeout) {
    this.http = Http.get(system.classicSystem());
    this.materializer = Materializer.matFromSystem(system);
    this.client = client;
    this.timeout = timeout;
  }

  /** @param problem null when the provider answered its model list */
  public record ProviderStatus(Provider provider, String server, long latencyMillis, String problem,
      List<ModelStatus> models) {
    public boolean healthy() {
      return problem == null && models.stream().allMatch(m -> m.problem() == null);
    }
  }

  /**
   * @param present null when the list could not be read
   * @param loaded null when the server does not say
   * @param firstTokenMillis the probe's time to first token, or -1 when not probed or failed
   */
  public record ModelStatus(Model model, Boolean present, Boolean loaded, Integer contextLength, long firstTokenMillis,
      String problem) {}

  public CompletionStage<ProviderStatus> check(Provider provider, List<Model> models, boolean probe) {
    String server = ServerNames.of(provider);
    long start = System.nanoTime();
    return listModels(provider).handle((listing, error) -> {
      long latency = (System.nanoTime() - start) / 1_000_000;
      if (error != null) {
        return new ProviderStatus(provider, server, latency, unreachable(provider, unwrap(error)),
            models.stream().map(m -> new ModelStatus(m, null, null, null, -1, null)).toList());
      }
      List<ModelStatus> statuses = new ArrayList<>();
      for (Model model : models) {
        ModelListing.Entry entry = listing.stream().filter(e -> e.id().equals(model.id())).findFirst().orElse(null);
        String problem = entry == null ? model.id() + " is not served by " + server + "; it serves: " + ids(listing) : null;
        statuses.add(new ModelStatus(model, entry != null, entry == null ? null : entry.loaded(),
            entry == null ? null : entry.contextLength(), -1, problem));
      }
      return new ProviderStatus(provider, server, latency, null, statuses);
    }).thenCompose(status -> probe && status.problem() == null ? probeAll(status) : CompletableFuture.completedFuture(status));
  }

  /** What a server lists, shortened: a hosted one may list hundreds. */
  private static String ids(List<ModelListing.Entry> listing) {
    if (listing.isEmpty()) {
      return "nothing";
    }
    String shown = listing.stream().limit(LISTED_IDS).map(ModelListing.Entry::id).collect(Collectors.joining(", "));
    return listing.size() > LISTED_IDS ? shown + " and " + (listing.size() - LISTED_IDS) + " more" : shown;
  }

  /**
   * The api's model list ({@code /v1/models} for OpenAI and Anthropic alike), with LM Studio's
   * native list for the loaded state where it answers; only a local server can be LM Studio.
   */
  private CompletionStage<List<ModelListing.Entry>> listModels(Provider provider) {
    String base = provider.baseUrl().toString();
    CompletionStage<List<ModelListing.Entry>> openAi =
        get(provider, UpstreamCalls.apiRoot(provider, provider.api()) + "/models").thenApply(ModelListing::parse);
    if (!base.endsWith("/v1") || !provider.isLocal()) {
      return openAi;
    }
    CompletionStage<List<ModelListing.Entry>> native0 = get(provider, base.substring(0, base.length() - 3) + "/api/v0/models")
        .thenApply(ModelListing::parse)
        .exceptionally(notLmStudio -> List.of());
    return openAi.thenCombine(native0, (listed, withState) -> listed.stream()
        .map(e -> withState.stream().filter(n -> n.id().equals(e.id())).findFirst()
            .map(n -> new ModelListing.Entry(e.id(), n.contextLength() != null ? n.contextLength() : e.contextLength(), n.loaded()))
            .orElse(e))
        .toList());
  }

  private CompletionStage<String> get(Provider provider, String url) {
    HttpRequest request = HttpRequest.GET(url);
    for (Map.Entry<String, String> header : UpstreamCalls.providerHeaders(provider, provider.api()).entrySet()) {
      request = request.addHeader(RawHeader.create(header.getKey(), header.getValue()));
    }
    return http.singleRequest(request)
        .thenCompose(response -> response.entity().toStrict(timeout.toMillis(), materializer)
            .thenApply(body -> {
              String text = body.getData().decodeString(StandardCharsets.UTF_8);
              if (!response.status().isSuccess()) {
                throw new UpstreamException(ErrorClassifier.fromHttp(response.status().intValue(), text, null)
                    .redacting(provider.secrets()));
              }
              return text;
            }))
        .toCompletableFuture()
        .orTimeout(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
  }

  private CompletionStage<ProviderStatus> probeAll(ProviderStatus status) {
    CompletionStage<List<ModelStatus>> all = CompletableFuture.completedFuture(new ArrayList<>());
    for (ModelStatus m : status.models()) {
      all = all.thenCompose(done -> probe(m, status.server()).thenApply(result -> {
        done.add(result);
        return done;
      }));
    }
    return all.thenApply(models -> new ProviderStatus(status.provider(), status.server(), status.latencyMillis(), null, models));
  }

  private CompletionStage<ModelStatus> probe(ModelStatus status, String server) {
    ModelRequest tiny = new ModelRequest(null, List.of(new Message(Role.USER, "Reply with the single word OK.")),
        List.of(), null, 16, null, null);
    long start = System.nanoTime();
    return client.stream(status.model(), tiny).take(1).runWith(Sink.head(), materializer)
        .handle((first, error) -> {
          if (error == null) {
            return new ModelStatus(status.model(), status.present(), status.loaded(), status.contextLength(),
                (System.nanoTime() - start) / 1_000_000, status.problem());
          }
          UpstreamFailure f = ErrorClassifier.fromTransport(unwrap(error));
          return new ModelStatus(status.model(), status.present(), status.loaded(), status.contextLength(), -1,
              status.model().id() + " did not answer: " + f.kind() + (f.status() > 0 ? " (HTTP " + f.status() + ")" : "")
                  + " " + f.message());
        });
  }

  private static Throwable unwrap(Throwable t) {
    while ((t instanceof java.util.concurrent.CompletionException || t instanceof java.util.concurrent.ExecutionException)
        && t.getCause() != null) {
      t = t.getCause();
    }
    return t;
  }

  private String unreachable(Provider provider, Throwable error) {
    String at = ServerNames.at(provider);
    if (error instanceof java.util.concurrent.TimeoutException) {
      return at + " did not answer within " + timeout.toSeconds() + " s — is it busy loading a model?";
    }
    UpstreamFailure f = ErrorClassifier.connecting(error, provider).failure();
    if (f.kind() == UpstreamFailure.Kind.CONNECTION_REFUSED) {
      return f.message();
    }
    if (f.kind() == UpstreamFailure.Kind.AUTH) {
      return at + " rejected the API key (HTTP " + f.status() + ") — check apiKey for provider " + provider.id();
    }
    if (f.status() == 404) {
      return at + " has no " + java.net.URI.create(UpstreamCalls.apiRoot(provider, provider.api())).getPath()
          + "/models — is baseUrl right (usually ending in /v1)?";
    }
    return at + " answered with an error: " + (f.status() > 0 ? "HTTP " + f.status() + " " : "") + f.message();
  }
}
