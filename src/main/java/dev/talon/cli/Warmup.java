package dev.talon.cli;

import dev.talon.cluster.ClusterStatus;
import dev.talon.cluster.Conversations;
import dev.talon.config.ConfigLoader;
import dev.talon.config.GatewaySettings;
import dev.talon.config.ModelCatalog;
import dev.talon.config.TalonConfig;
import dev.talon.config.TalonSettings;
import dev.talon.conversation.FailoverRunner;
import dev.talon.conversation.NodeMetrics;
import dev.talon.gateway.ApiRoutes;
import dev.talon.gateway.GatewayServer;
import dev.talon.gateway.ResponseIds;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Supplier;
import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.server.Directives;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Rehearses the request path while the node starts, so that the first client does not wait for it
 * to be loaded and compiled (a third of a second on a cold JVM, against milliseconds after). A few
 * turns of each API, streamed and not, go through a gateway of their own on a spare loopback port,
 * to a rehearsal upstream on another one that answers at once: the same routes, runner, HTTP
 * client, stream parsers and encoders a client's turn goes through, and no configured model is
 * called. Stored turns are journaled in conversations of the rehearsal's own and erased when it
 * ends; a node killed before that leaves keyless conversations, which the retention sweep erases
 * as it does a client's. Those first turns load the code; the compiler makes it fast only after
 * some thousand calls, so the rehearsal goes on with the warm-up turns of {@code talon.warmup},
 * each sent only once clients have been quiet for a while. Separately, a conversation nobody
 * uses is recovered from the journal, so its queries are prepared before the first conversation
 * needs them. Neither ever stops the node from starting: whatever goes wrong is logged and the
 * node serves anyway.
 */
final class Warmup {
  private static final Logger log = LoggerFactory.getLogger(Warmup.class);

  /** The first turn of each kind does most of the loading; the others give the compiler a start. */
  private static final int ROUNDS = 4;

  private static final int TOKENS = 8;

  private final ActorSystem<?> system;
  private final Http http;
  private final Materializer materializer;
  private final Duration timeout;

  private Warmup(ActorSystem<?> system, Duration timeout) {
    this.system = system;
    this.http = Http.get(system);
    this.materializer = Materializer.matFromSystem(system);
    this.timeout = timeout;
  }

  /**
   * Completes when the rehearsal is over, or after {@code config}'s ask timeout, never failing.
   * {@code clientsQuietFor} completes once no client turn has run for the time given, with false
   * if the node is stopping.
   */
  static CompletionStage<Done> rehearse(ActorSystem<?> system, Conversations conversations, TalonConfig config,
      ResponseIds ids, Function<Duration, CompletionStage<Boolean>> clientsQuietFor) {
    Duration timeout = config.gateway().limits().askTimeout();
    return bounded(new Warmup(system, timeout).throughOwnGateway(conversations, config, ids, clientsQuietFor),
        timeout, "the start-up rehearsal");
  }

  /** Recovers a conversation nobody uses from the journal; completes within the ask timeout, never failing. */
  static CompletionStage<Done> readJournal(Conversations conversations, Duration timeout) {
    return bounded(conversations.context("talon-warmup-" + UUID.randomUUID()).thenApply(context -> Done.getInstance()),
        timeout, "the journal's first read");
  }

  private static CompletionStage<Done> bounded(CompletionStage<Done> work, Duration timeout, String what) {
    return work.toCompletableFuture()
        .completeOnTimeout(Done.getInstance(), timeout.toMillis(), TimeUnit.MILLISECONDS)
        .exceptionally(failure -> {
          log.warn("{} failed; the first requests may be slower: {}", what, failure.toString());
          return Done.getInstance();
        });
  }

  /** Binds the rehearsal upstream and a gateway of its own, sends the turns, then unbinds both. */
  private CompletionStage<Done> throughOwnGateway(Conversations conversations, TalonConfig config, ResponseIds ids,
      Function<Duration, CompletionStage<Boolean>> clientsQuietFor) {
    return http.newServerAt("127.0.0.1", 0).bind(upstream()).thenCompose(upstream -> {
      ModelCatalog catalog = catalog(upstream.localAddress().getPort());
      // Counted as the node's turns are, but apart: the rehearsal's turns are not the node's.
      NodeMetrics metrics = new NodeMetrics(catalog.models());
      Conversations.Rehearsal rehearsal = conversations.rehearsal(catalog,
          FailoverRunner.standard(system, config.talon(), metrics), metrics);
      GatewaySettings settings = GatewaySettings.loopback(0, null);
      TalonSettings.Warmup warmup = config.talon().warmup();
      ApiRoutes routes = new ApiRoutes(catalog, rehearsal.conversations(), new ClusterStatus(system, timeout),
          settings, config.talon().mcp(), materializer,
          CompletableFuture.completedFuture(Done.getInstance()), ids, metrics.registry());
      return GatewayServer.bind(system, settings, routes.route())
          .thenCompose(gateway -> {
            String base = "http://127.0.0.1:" + gateway.localAddress().getPort();
            // the first rounds load the code a client's first turn needs: they do not wait for clients
            return turns(base, ROUNDS * REQUESTS.size(), 1, () -> CompletableFuture.completedStage(true))
                .thenCompose(first -> turns(base, warmup.turns(), warmup.concurrency(),
                    () -> clientsQuietFor.apply(warmup.quiet()))
                    .thenApply(warmed -> first + warmed))
                .whenComplete((sent, failure) -> gateway.unbind());
          })
          // erased however the turns went: those before a failure were journaled all the same
          .handle((sent, failure) -> failure == null ? sent : failure)
          .thenCompose(outcome -> rehearsal.erase().thenCompose(erased -> {
            if (outcome instanceof Throwable failure) {
              return CompletableFuture.<Done>failedStage(failure);
            }
            log.info("rehearsed {} turns, {} of them stored in conversations since erased", outcome, erased);
            return CompletableFuture.completedStage(Done.getInstance());
          }))
          .whenComplete((done, failure) -> upstream.unbind());
    });
  }

  /** A request the rehearsal sends. */
  private record Rehearsed(String path, String body) {}

  /**
   * Every API, streamed and not, stored and not: a stored turn also goes through a conversation
   * and the journal, whose writes are the slowest part of a cold first turn (each event type's
   * serializer is built on first use). Each is keyless, as most clients' are, and starts a
   * conversation of its own.
   */
  private static final List<Rehearsed> REQUESTS = List.of(
      new Rehearsed("/v1/chat/completions", """
          {"model": "rehearsal/chat", "stream": true, "stream_options": {"include_usage": true},
           "messages": [{"role": "user", "content": "hi"}]}"""),
      new Rehearsed("/v1/chat/completions", """
          {"model": "rehearsal/chat", "messages": [{"role": "user", "content": "hi"}]}"""),
      new Rehearsed("/v1/responses", """
          {"model": "rehearsal/responses", "stream": true, "store": false, "input": "hi"}"""),
      new Rehearsed("/v1/responses", """
          {"model": "rehearsal/responses", "store": false, "input": "hi"}"""),
      new Rehearsed("/v1/responses", """
          {"model": "rehearsal/responses", "stream": true, "input": "hi"}"""),
      new Rehearsed("/v1/responses", """
          {"model": "rehearsal/responses", "input": "hi"}"""),
      new Rehearsed("/v1/chat/completions", """
          {"model": "rehearsal/chat", "stream": true, "store": true, "messages": [{"role": "user", "content": "hi"}]}"""));

  /**
   * {@code count} turns, {@code concurrency} at a time, each sent once {@code mayGo} completes
   * with true (none after it says false: the node stops). They take turns through every kind: a
   * stored turn's path (the conversation, the journal) needs as many calls as a streamed chat's
   * before it is compiled. Completes with the number sent.
   */
  private CompletionStage<Integer> turns(String gateway, int count, int concurrency,
      Supplier<CompletionStage<Boolean>> mayGo) {
    return Source.range(0, count - 1)
        .mapAsyncUnordered(concurrency, turn -> mayGo.get().thenCompose(go -> {
          if (!go) {
            return CompletableFuture.completedStage(0);
          }
          Rehearsed request = REQUESTS.get(turn % REQUESTS.size());
          return send(gateway + request.path(), request.body()).thenApply(sent -> 1);
        }))
        .runFold(0, Integer::sum, materializer);
  }

  private CompletionStage<Done> send(String url, String body) {
    return http.singleRequest(HttpRequest.POST(url).withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON,
            body)))
        .thenCompose(response -> response.entity().toStrict(timeout.toMillis(), materializer).thenApply(entity -> {
          if (!response.status().isSuccess()) {
            throw new IllegalStateException("the rehearsal's " + url + " answered " + response.status() + ": "
                + entity.getData().utf8String());
          }
          return Done.getInstance();
        }));
  }

  private static ModelCatalog catalog(int port) {
    String base = "http://127.0.0.1:" + port + "/v1";
    return ConfigLoader.parse("""
        { models: { mode: "replace", providers: {
            rehearsal: { baseUrl: "%s", api: "openai-completions",
              models: [{ id: "chat" }, { id: "responses", api: "openai-responses" }] } } },
          agents: { defaults: { model: { primary: "rehearsal/chat" } } } }
        """.formatted(base), "the start-up rehearsal", name -> null).catalog();
  }

  // ---- the rehearsal upstream: a model that answers at once --------------------------------------

  private static Route upstream() {
    return Directives.concat(
        Directives.path(PathMatchers.segment("v1").slash("chat").slash("completions"), () ->
            Directives.complete(events(chatEvents()))),
        Directives.path(PathMatchers.segment("v1").slash("responses"), () ->
            Directives.complete(events(responsesEvents()))));
  }

  private static HttpResponse events(List<String> frames) {
    return HttpResponse.create().withEntity(HttpEntities.createChunked(MediaTypes.TEXT_EVENT_STREAM.toContentType(),
        Source.from(frames).map(ByteString::fromString)));
  }

  private static List<String> chatEvents() {
    List<String> frames = new ArrayList<>();
    String head = "data: {\"id\":\"chatcmpl-rehearsal\",\"object\":\"chat.completion.chunk\",\"created\":0,"
        + "\"model\":\"chat\",\"choices\":[";
    for (int i = 0; i < TOKENS; i++) {
      frames.add(head + "{\"index\":0,\"delta\":{\"content\":\"word \"},\"finish_reason\":null}]}\n\n");
    }
    frames.add(head + "{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n");
    frames.add(head + "],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":" + TOKENS + "}}\n\n");
    frames.add("data: [DONE]\n\n");
    return frames;
  }

  private static List<String> responsesEvents() {
    List<String> frames = new ArrayList<>();
    frames.add(responsesEvent("response.created", "\"response\":{\"id\":\"resp_rehearsal\",\"status\":\"in_progress\","
        + "\"output\":[]}"));
    for (int i = 0; i < TOKENS; i++) {
      frames.add(responsesEvent("response.output_text.delta",
          "\"item_id\":\"msg_rehearsal\",\"output_index\":0,\"content_index\":0,\"delta\":\"word \""));
    }
    frames.add(responsesEvent("response.completed", "\"response\":{\"id\":\"resp_rehearsal\",\"status\":\"completed\","
        + "\"output\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":" + TOKENS + "}}"));
    return frames;
  }

  private static String responsesEvent(String type, String fields) {
    return "event: " + type + "\ndata: {\"type\":\"" + type + "\"," + fields + "}\n\n";
  }
}
