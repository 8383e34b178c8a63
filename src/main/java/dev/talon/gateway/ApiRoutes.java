package dev.talon.gateway;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.cluster.ClusterStatus;
import dev.talon.cluster.Conversations;
import dev.talon.config.GatewaySettings;
import dev.talon.config.McpSettings;
import dev.talon.config.ModelCatalog;
import dev.talon.conversation.ConversationEntity.Busy;
import dev.talon.conversation.ConversationEntity.Cancelled;
import dev.talon.conversation.ConversationEntity.Decided;
import dev.talon.conversation.ConversationEntity.PreviousNotLatest;
import dev.talon.conversation.ConversationEntity.NothingToCompact;
import dev.talon.conversation.ConversationEntity.Rejected;
import dev.talon.conversation.ConversationEntity.StartReply;
import dev.talon.conversation.ConversationEntity.Status;
import dev.talon.conversation.ConversationEntity.Subscribed;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.conversation.ConversationEntity.TurnAccepted;
import dev.talon.conversation.ConversationEntity.UnknownPrevious;
import dev.talon.conversation.TurnEvent;
import dev.talon.conversation.TurnEvents;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Supplier;
import org.apache.pekko.Done;
import org.apache.pekko.NotUsed;
import org.apache.pekko.http.javadsl.model.ContentType;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpEntity;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.MethodRejection;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.RejectionHandler;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.stream.Materializer;
import org.apache.pekko.stream.OverflowStrategy;
import org.apache.pekko.http.scaladsl.model.EntityStreamSizeException;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The OpenAI-compatible API: Responses and Chat Completions (streamed or not), stored responses,
 * conversations, models, the cluster's status, health, readiness and the node's metrics (in
 * Prometheus' text format); and the chat page that uses the API. Every failure leaves as an
 * OpenAI-style error (see {@link ApiError}); nothing reaches a conversation until the request
 * has been read and checked.
 */
public final class ApiRoutes extends AllDirectives {
  private static final ContentType EVENT_STREAM = MediaTypes.TEXT_EVENT_STREAM.toContentType();
  /**
   * What the status line may wait behind: a turn's preamble (its start, one switch per failed
   * attempt), then its first output. The buffer keeps pulling until that output has passed.
   */
  private static final int PREAMBLE_EVENTS = 256;
  private static final ByteString KEEP_ALIVE = ByteString.fromString(": keep-alive\n\n");
  private static final Logger log = LoggerFactory.getLogger(ApiRoutes.class);
  /** Turns per page of {@code GET /v1/conversations/{key}}: by default, and at most. */
  private static final int DEFAULT_PAGE = 100;
  private static final int MAX_PAGE = 1000;
  /** Conversations per page of {@code GET /v1/conversations}: each is asked for its turn count. */
  private static final int DEFAULT_LIST_PAGE = 20;
  private static final int MAX_LIST_PAGE = 100;
  /** What {@code POST /v1/responses/{id}/approve} takes: all optional. */
  private static final List<String> APPROVE_FIELDS = List.of("approve", "call_id", "reason");
  private static final ContentType PROMETHEUS_TEXT = ContentTypes.parse(PrometheusTextFormatWriter.CONTENT_TYPE);

  private final ModelCatalog catalog;
  private final Conversations conversations;
  private final ClusterStatus cluster;
  private final GatewaySettings settings;
  private final McpSettings mcp;
  private final Materializer materializer;
  private final CompletionStage<Done> started;
  private final ResponseIds ids;
  private final BrowserGuard browsers;
  private final Admission admission;
  private final PrometheusRegistry metrics;
  private final PrometheusTextFormatWriter metricsFormat = PrometheusTextFormatWriter.create();

  /** Built once: the routes below the path prefix are built again for every request. */
  private final RejectionHandler rejections = RejectionHandler.newBuilder()
      .handleAll(MethodRejection.class, rejected -> complete(new ApiError(405, "invalid_request_error",
          "method_not_allowed", null, "Method not allowed here; use " + rejected.get(0).supported().value() + ".")
          .response()))
      .handleNotFound(extractUnmatchedPath(path -> complete(ApiError.notFound("unknown_url", null,
          "Unknown endpoint '" + path + "'.").response())))
      .build();

  /**
   * @param cluster this node's cluster: {@code /ready} answers 200 only while the node is a member that serves
   * @param started completes once the node can serve (storage and sharding up): {@code /ready} answers 503 before
   * @param ids the node's response ids (see {@link ResponseIds#forNode})
   * @param metrics what {@code GET /metrics} serves; the gateway adds its turns in progress
   * @param mcp which MCP servers a request may name (OpenAI's {@code type: "mcp"} tools)
   */
  public ApiRoutes(ModelCatalog catalog, Conversations conversations, ClusterStatus cluster, GatewaySettings settings,
      McpSettings mcp, Materializer materializer, CompletionStage<Done> started, ResponseIds ids,
      PrometheusRegistry metrics) {
    this.catalog = catalog;
    this.conversations = conversations;
    this.cluster = cluster;
    this.settings = settings;
    this.mcp = mcp;
    this.materializer = materializer;
    this.started = started;
    this.ids = ids;
    this.browsers = new BrowserGuard(settings);
    this.admission = new Admission(settings.limits().maxConcurrentTurns(), settings.keepAlive(), materializer);
    this.metrics = metrics;
    GaugeWithCallback.builder().name("talon_gateway_active_turns")
        .help("Turns this node's gateway is answering, streamed or not (a stream until it ends);"
            + " gateway.maxConcurrentTurns caps them.")
        .callback(callback -> callback.call(admission.running())).register(metrics);
  }

  /**
   * From now on {@code /ready} answers 503, so a load balancer stops sending new work, and new
   * turns are refused with 503. Completes once every running turn has been answered to its end.
   */
  public CompletionStage<Done> drain() {
    return admission.drain();
  }

  /**
   * Completes once no client turn has run for {@code quiet} (at once if none has): with true, or
   * with false if the node has begun to stop by then.
   */
  public CompletionStage<Boolean> whenQuietFor(Duration quiet) {
    return admission.quietFor(quiet).thenApply(quietNow -> !admission.draining());
  }

  public Route route() {
    return handleRejections(rejections, () -> concat(
        new HealthRoutes().route(),
        new WebRoutes().route(),
        path("ready", () -> get(this::ready)),
        path("cluster", () -> protectedApi(() -> get(() -> answer(request -> clusterStatus())))),
        path("metrics", () -> (settings.publicMetrics() ? guarded(this::scrape) : protectedApi(this::scrape))),
        pathPrefix("v1", () -> protectedApi(() -> concat(
            path("responses", () -> post(() -> answer(admission.limiting(this::createResponse)))),
            path(PathMatchers.segment("responses").slash(PathMatchers.segment()), id -> get(() ->
                parameterOptional("stream", stream -> parameterOptional("starting_after", after ->
                    answer(request -> getResponse(id, stream.map(Boolean::parseBoolean).orElse(false),
                        after.map(value -> integer("starting_after", value, Integer.MIN_VALUE, Integer.MAX_VALUE,
                            "an integer sequence number")).orElse(-1))))))),
            path(PathMatchers.segment("responses").slash(PathMatchers.segment()).slash("cancel"), id ->
                post(() -> answer(request -> cancelResponse(id)))),
            path(PathMatchers.segment("responses").slash(PathMatchers.segment()).slash("approve"), id ->
                post(() -> answer(request -> approve(id, request)))),
            path(PathMatchers.segment("chat").slash("completions"), () ->
                post(() -> answer(admission.limiting(this::createChat)))),
            path("models", () -> get(() -> answer(request -> CompletableFuture.completedFuture(json(200, models()))))),
            path(PathMatchers.segment("models").slash(PathMatchers.remaining()), id -> get(() ->
                answer(request -> model(id)))),
            path("conversations", () -> get(() -> parameterOptional("after", after ->
                parameterOptional("limit", limit -> answer(request -> conversationList(
                    after.map(ConversationListJson::after).orElse(null),
                    limit.map(value -> integer("limit", value, 1, MAX_LIST_PAGE, "from 1 to " + MAX_LIST_PAGE))
                        .orElse(DEFAULT_LIST_PAGE))))))),
            path(PathMatchers.segment("conversations").slash(PathMatchers.segment()), key -> concat(
                get(() -> parameterOptional("after", after -> parameterOptional("limit", limit ->
                    answer(request -> transcript(pathKey(key),
                        after.map(value -> integer("after", value, 0, Integer.MAX_VALUE, "a turn number, 0 or more"))
                            .orElse(0),
                        limit.map(value -> integer("limit", value, 1, MAX_PAGE, "from 1 to " + MAX_PAGE))
                            .orElse(DEFAULT_PAGE)))))),
                delete(() -> answer(request -> delete(pathKey(key)))))),
            path(PathMatchers.segment("conversations").slash(PathMatchers.segment()).slash("compact"), key ->
                // a compaction calls a model, as a turn does: it takes a turn's place, and a drain waits for it
                post(() -> answer(admission.limiting((request, place) -> compact(pathKey(key), request))))))))));
  }

  // ---- Responses ----------------------------------------------------------------------------

  private CompletionStage<HttpResponse> createResponse(HttpRequest http, Admission.Place place) {
    return body(http).thenCompose(body -> {
      TurnRequest request = TurnRequest.responses(body, headers(http), catalog, settings.exposeReasoning(), ids, mcp);
      Conversations.NewTurn turn = request.newTurn();
      String conversation = turn.conversationKey();
      return start(turn).thenCompose(accepted -> {
        String id = ids.of(request.sessionKey(), accepted.turnId());
        ResponsesStream stream = new ResponsesStream(Presentations.shape(id, conversation, request.presentation()));
        return request.stream()
            ? decided(accepted.events(), place).thenApply(live -> sse(conversation, responsesFrames(live, stream, -1)))
            : events(accepted.events().source()).runWith(Sink.seq(), materializer).thenApply(all -> {
              completed(all);
              return withSession(json(200, stream.finalResponse(all)), conversation);
            });
      });
    });
  }

  private CompletionStage<HttpResponse> getResponse(String id, boolean stream, int startingAfter) {
    ResponseIds.Ref ref = responseRef(id);
    return storedTurn(ref).thenCompose(turn -> {
      ResponsesStream encoder = new ResponsesStream(Presentations.shape(id, ref.sessionKey(), turn,
          settings.exposeReasoning()));
      if (!stream && turn.status() == Status.RUNNING) {
        return CompletableFuture.completedFuture(json(200, encoder.finalResponse(Transcripts.events(turn))));
      }
      // A turn still in memory is told from its log, exactly as it streamed (live to the end if it
      // runs); one read back from the journal is told from the stored outcome.
      return conversations.subscribe(ref.sessionKey(), ref.turnId(), 0).thenCompose(reply -> {
        Source<TurnEvent, NotUsed> events = reply instanceof Subscribed subscribed
            ? events(subscribed.events().source())
            : Source.from(Transcripts.events(turn));
        return stream
            ? CompletableFuture.completedFuture(sse(ref.sessionKey(), responsesFrames(events, encoder, startingAfter)))
            : events.runWith(Sink.seq(), materializer).thenApply(all -> json(200, encoder.finalResponse(all)));
      });
    });
  }

  private CompletionStage<HttpResponse> cancelResponse(String id) {
    ResponseIds.Ref ref = responseRef(id);
    return storedTurn(ref).thenCompose(turn -> conversations.cancel(ref.sessionKey(), ref.turnId()))
        .thenCompose(reply -> {
          if (!(reply instanceof Cancelled)) {
            throw new ApiError(409, "invalid_request_error", "response_not_running", null,
                "Response '" + id + "' is not in progress; only a running response can be cancelled.");
          }
          return getResponse(id, false, -1);
        });
  }

  /**
   * A person's answer to the MCP calls of a running response that wait for approval: the one
   * named by {@code call_id}, or all of them. A call turned down is told to the model, with the
   * {@code reason} when there is one.
   */
  private CompletionStage<HttpResponse> approve(String id, HttpRequest http) {
    ResponseIds.Ref ref = responseRef(id);
    return bytes(http).thenCompose(body -> {
      ObjectNode fields = body.isEmpty() ? Json.object() : Json.requestObject(body.toArray());
      // A misspelt field must not pass for the default: {"approved": false} would approve the call.
      fields.fieldNames().forEachRemaining(name -> {
        if (!APPROVE_FIELDS.contains(name)) {
          throw ApiError.badRequest(name, "Unknown parameter '" + name + "': expected " + APPROVE_FIELDS + ".");
        }
      });
      Fields f = Fields.of(fields);
      boolean approved = f.get("approve").bool(true);
      String callId = f.get("call_id").text();
      return conversations.approve(ref.sessionKey(), ref.turnId(), callId, approved, f.get("reason").text())
          .thenCompose(reply -> {
            if (reply instanceof Decided decided) {
              ObjectNode out = Json.object().put("object", "response.approval").put("response_id", id);
              decided.callIds().forEach(out.putArray("decided")::add);
              return CompletableFuture.completedFuture(json(200, out.put("approved", approved)));
            }
            // Nothing waits: a response that does not exist is a 404, one that does is not waiting.
            return storedTurn(ref).<HttpResponse>thenApply(turn -> {
              throw new ApiError(409, "invalid_request_error", "nothing_to_approve", callId == null ? null : "call_id",
                  callId == null ? "Response '" + id + "' has no tool call waiting for approval."
                      : "Response '" + id + "' has no tool call '" + callId + "' waiting for approval.");
            });
          });
    });
  }

  private Source<ByteString, NotUsed> responsesFrames(Source<TurnEvent, NotUsed> events, ResponsesStream encoder,
      int startingAfter) {
    return events.mapConcat(encoder::on).filter(frame -> frame.sequence() > startingAfter)
        .map(ResponsesStream.Frame::sse);
  }

  // ---- Chat Completions ---------------------------------------------------------------------

  private CompletionStage<HttpResponse> createChat(HttpRequest http, Admission.Place place) {
    return body(http).thenCompose(body -> {
      TurnRequest request = TurnRequest.chat(body, headers(http), catalog, settings.exposeReasoning());
      Conversations.NewTurn turn = request.newTurn();
      String conversation = turn.conversationKey();
      return start(turn).thenCompose(accepted -> {
        ChatStream chat = new ChatStream(ids.of(request.sessionKey(), accepted.turnId()),
            request.presentation().createdAt(), request.model().name(), request.includeReasoning(),
            request.includeUsage());
        if (request.stream()) {
          return decided(accepted.events(), place).thenApply(live -> sse(conversation, live.mapConcat(chat::on)));
        }
        Source<TurnEvent, NotUsed> events = events(accepted.events().source());
        return events.runWith(Sink.seq(), materializer).thenApply(all ->
            withSession(json(200, chat.completion(completed(all).result())), conversation));
      });
    });
  }

  // ---- conversations and models -------------------------------------------------------------

  /** A page of the conversations clients named, the most recently active first. */
  private CompletionStage<HttpResponse> conversationList(Conversations.ListPosition after, int limit) {
    return conversations.list(after, limit).thenApply(listing -> json(200, ConversationListJson.of(listing)));
  }

  /** A page of the transcript, read from the journal: the conversation's memory holds only what models see. */
  private CompletionStage<HttpResponse> transcript(String key, int after, int limit) {
    // The conversation answers first, and the journal is read after: a turn an earlier run left
    // unfinished is journaled as interrupted before the conversation answers anything.
    return conversations.context(key).thenCompose(context -> {
      // A conversation without turns is one that never was, or was erased: unknown either way.
      if (context.turnCount() == 0) {
        throw conversationNotFound(key);
      }
      return conversations.page(key, after, limit).thenApply(page -> json(200,
          TranscriptJson.of(key, page, context, turnId -> ids.of(key, turnId), settings.exposeReasoning())));
    });
  }

  /** Compacts the conversation now, with the client's focus if it gave one; answers once it is done. */
  private CompletionStage<HttpResponse> compact(String key, HttpRequest http) {
    return bytes(http).thenCompose(body -> conversations.compact(key, focus(body))).thenCompose(reply -> {
      if (reply instanceof Rejected) {
        throw conversationNotFound(key); // it has no turns
      }
      if (reply instanceof NothingToCompact) {
        throw new ApiError(409, "invalid_request_error", "nothing_to_compact", null, "Conversation '" + key
            + "' has nothing older than its newest turn to compact.");
      }
      return events(accepted(reply, key).events().source()).runWith(Sink.seq(), materializer);
    }).thenApply(events -> {
      TurnEvent.Compacted compacted = (TurnEvent.Compacted) outcome(events);
      ObjectNode out = Json.object().put("object", "conversation.compaction").put("session_key", key);
      return json(200, out.setAll(CompactionJson.stored(compacted.compaction(), turnId -> ids.of(key, turnId))));
    });
  }

  /** The {@code instructions} of an optional body {@code {"instructions": "..."}}, or null. */
  private static String focus(ByteString body) {
    if (body.isEmpty()) {
      return null;
    }
    var instructions = Json.requestObject(body.toArray()).path("instructions");
    if (!instructions.isMissingNode() && !instructions.isNull() && !instructions.isTextual()) {
      throw ApiError.badRequest("instructions", "instructions must be a string: what the summary should focus on.");
    }
    return instructions.textValue();
  }

  private static ApiError conversationNotFound(String key) {
    return ApiError.notFound("conversation_not_found", null, "No conversation '" + key + "' exists.");
  }

  private CompletionStage<HttpResponse> delete(String key) {
    return conversations.delete(key).thenApply(done -> json(200,
        Json.object().put("object", "conversation.deleted").put("session_key", key).put("deleted", true)));
  }

  private ObjectNode models() {
    ObjectNode list = Json.object().put("object", "list");
    ArrayNode data = list.putArray("data");
    catalog.agents().forEach(agent -> data.add(modelEntry(agent.id(), "agent")));
    catalog.models().forEach(model -> data.add(modelEntry(model.ref(), model.provider().id())));
    catalog.aliases().values().forEach(alias -> data.add(modelEntry(alias, "alias")));
    return list;
  }

  private CompletionStage<HttpResponse> model(String id) {
    for (var entry : models().withArray("data")) {
      if (entry.get("id").textValue().equals(id)) {
        return CompletableFuture.completedFuture(json(200, entry));
      }
    }
    throw ApiError.notFound("model_not_found", "model", "The model '" + id + "' does not exist.");
  }

  private static ObjectNode modelEntry(String id, String ownedBy) {
    return Json.object().put("id", id).put("object", "model").put("created", 0).put("owned_by", ownedBy);
  }

  private CompletionStage<HttpResponse> clusterStatus() {
    return cluster.view().thenApply(view -> json(200, ClusterJson.of(view)));
  }

  private Route scrape() {
    return get(() -> {
      ByteArrayOutputStream text = new ByteArrayOutputStream();
      try {
        metricsFormat.write(text, metrics.scrape());
      } catch (IOException e) {
        throw new UncheckedIOException(e); // not thrown: the stream is in memory
      }
      return complete(HttpResponse.create().withEntity(HttpEntities.create(PROMETHEUS_TEXT, text.toByteArray())));
    });
  }

  private Route ready() {
    // A member on its way out (leaving, exiting, downed) hands its shards over: no new work for it.
    boolean up = started.toCompletableFuture().isDone() && !started.toCompletableFuture().isCompletedExceptionally()
        && !admission.draining() && cluster.serving();
    return complete(up ? StatusCodes.OK : StatusCodes.SERVICE_UNAVAILABLE, HttpEntities.create(
        ContentTypes.APPLICATION_JSON, up ? "{\"status\":\"ready\"}"
            : "{\"status\":\"starting, draining or not an up cluster member\"}"));
  }

  // ---- turns --------------------------------------------------------------------------------

  /** Starts the turn; the conversation itself checks {@code previous_response_id}, atomically. */
  private CompletionStage<TurnAccepted> start(Conversations.NewTurn turn) {
    return conversations.startTurn(turn).thenApply(reply -> accepted(reply, turn.sessionKey()));
  }

  private TurnAccepted accepted(StartReply reply, String sessionKey) {
    if (reply instanceof TurnAccepted accepted) {
      return accepted;
    }
    if (reply instanceof Busy busy) {
      throw ApiError.busy(busy.turnId());
    }
    if (reply instanceof UnknownPrevious unknown) {
      throw ApiError.notFound("response_not_found", "previous_response_id",
          "No response with id '" + ids.of(sessionKey, unknown.previousTurnId()) + "' exists.");
    }
    if (reply instanceof PreviousNotLatest) {
      throw new ApiError(409, "invalid_request_error", "previous_response_not_latest", "previous_response_id",
          "previous_response_id must name the conversation's latest response: Talon continues conversations,"
              + " it does not branch them.");
    }
    throw ApiError.badRequest(null, ((Rejected) reply).reason());
  }

  /**
   * The turn's events, once the first one that decides the status line is there (the model's
   * first output, or the turn's end), or once {@code gateway.keepAliveSeconds} have passed without
   * one (a cold model), whichever comes first. A turn that fails before any output (the journal
   * could not save it, or every candidate failed at once) is then answered with the status a
   * client can act on instead of a 200 stream that fails; a model that is slow to start still
   * gets its status line and keep-alive comments in time. The events are buffered meanwhile.
   */
  private CompletionStage<Source<TurnEvent, NotUsed>> decided(TurnEvents events, Admission.Place place) {
    CompletableFuture<TurnEvent> decisive = new CompletableFuture<>();
    // The turn runs apart from the connection: its events cross over in the batches they come in
    // (what a turn's log gathered since it was last read), each batch in one message.
    Source<TurnEvent, NotUsed> buffered = place.running(events.batches()
        .recover(Throwable.class, () -> List.of(linkBroken()))
        .wireTap(batch -> {
          for (TurnEvent event : batch) {
            // A compaction is shown as it starts: it may take a model call's time. MCP servers list
            // their tools ahead of the model's first call, which may still fail at once.
            if (!(event instanceof TurnEvent.Started || event instanceof TurnEvent.ModelSwitched
                || event instanceof TurnEvent.ToolsListed)) {
              decisive.complete(event);
              return;
            }
          }
        })
        .buffer(PREAMBLE_EVENTS, OverflowStrategy.backpressure()))
        .mapConcat(batch -> batch);
    return decisive.thenApply(event -> {
      if (event instanceof TurnEvent.Failed failed) {
        throw ApiError.turnFailed(failed);
      }
      return buffered;
    }).completeOnTimeout(buffered, settings.keepAlive().toMillis(), TimeUnit.MILLISECONDS);
  }

  /** A broken link to the conversation ends the stream with a failure, never silence. */
  private static Source<TurnEvent, NotUsed> events(Source<TurnEvent, NotUsed> source) {
    return source.recover(Throwable.class, ApiRoutes::linkBroken).mapMaterializedValue(m -> NotUsed.getInstance());
  }

  private static TurnEvent linkBroken() {
    return new TurnEvent.Failed("the link to the conversation broke", "INTERNAL", List.of());
  }

  /** The outcome of a turn that was not streamed; a failed turn is the request's error (502/503). */
  private static TurnEvent.Completed completed(List<TurnEvent> events) {
    return (TurnEvent.Completed) outcome(events);
  }

  /** The last of a job's events, unless it failed: then the request's error. */
  private static TurnEvent outcome(List<TurnEvent> events) {
    TurnEvent last = events.get(events.size() - 1);
    if (last instanceof TurnEvent.Failed failed) {
      throw ApiError.turnFailed(failed);
    }
    return last;
  }

  /** The turn, wherever it is kept: a compaction may have folded it out of the conversation's memory. */
  private CompletionStage<Turn> storedTurn(ResponseIds.Ref ref) {
    return conversations.turn(ref.sessionKey(), ref.turnId()).thenApply(turn ->
        turn.orElseThrow(() -> notFound(ids.of(ref.sessionKey(), ref.turnId()))));
  }

  private static String pathKey(String key) {
    return SessionKeys.checked(key, null, "the path /v1/conversations/{session key}");
  }

  private ResponseIds.Ref responseRef(String id) {
    return ids.parse(id).orElseThrow(() -> notFound(id));
  }

  private static ApiError notFound(String id) {
    return ApiError.notFound("response_not_found", null, "No response with id '" + id + "' exists.");
  }

  // ---- HTTP plumbing ------------------------------------------------------------------------

  /** Refuses foreign hosts and browser origins (and answers CORS preflights) before anything else. */
  private Route guarded(Supplier<Route> inner) {
    return extractRequest(request -> browsers.intercept(request).map(this::complete)
        .orElseGet(() -> respondWithHeaders(browsers.responseHeaders(request), inner)));
  }

  /** What every route with the API's data takes: the browser guard, then the bearer token. */
  private Route protectedApi(Supplier<Route> inner) {
    return guarded(() -> handleRejections(rejections, () -> authenticated(inner)));
  }

  private Route authenticated(Supplier<Route> inner) {
    if (settings.authToken().isEmpty()) {
      return inner.get();
    }
    byte[] expected = ("Bearer " + settings.authToken().get()).getBytes(StandardCharsets.UTF_8);
    return optionalHeaderValueByName("Authorization", given -> {
      // constant time, so the comparison does not leak how much of a guess was right
      boolean ok = given.map(value -> MessageDigest.isEqual(expected, value.getBytes(StandardCharsets.UTF_8)))
          .orElse(false);
      return ok ? inner.get() : complete(ApiError.unauthorized().response());
    });
  }

  /** Runs a handler; whatever it throws, now or later, becomes an OpenAI-style error response. */
  private Route answer(Function<HttpRequest, CompletionStage<HttpResponse>> handler) {
    return extractRequest(request -> {
      CompletionStage<HttpResponse> response;
      try {
        response = handler.apply(request);
      } catch (RuntimeException e) {
        response = CompletableFuture.failedStage(e);
      }
      return completeWithFuture(response.exceptionally(ApiRoutes::errorResponse));
    });
  }

  static HttpResponse errorResponse(Throwable failure) {
    Throwable e = unwrapped(failure);
    if (e instanceof ApiError api) {
      return api.response();
    }
    if (e instanceof TimeoutException) {
      return ApiError.unavailable("The conversation did not answer in time; try again.").response();
    }
    // The detail may quote internals (a database URL, a header); the client gets an id to report.
    String errorId = "err_" + UUID.randomUUID().toString().replace("-", "");
    log.error("internal error {}", errorId, e);
    return ApiError.internal("Internal error " + errorId + "; the server's log has the details.").response();
  }

  /** What went wrong in a stage: a later stage sees it wrapped in a {@code CompletionException}. */
  private static Throwable unwrapped(Throwable failure) {
    return failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
  }

  /** The body as a JSON object. */
  private CompletionStage<ObjectNode> body(HttpRequest request) {
    return bytes(request).thenApply(body -> Json.requestObject(body.toArray()));
  }

  /** The body as sent; Pekko enforces gateway.maxBodyMegabytes as it is read. */
  private CompletionStage<ByteString> bytes(HttpRequest request) {
    long limit = settings.limits().maxBodyBytes();
    if (request.entity().getContentLengthOption().orElse(0) > limit) {
      // Read and dropped before the 413 (within the body's read timeout): a server that closes
      // while the client still uploads resets the connection, and the client never reads why.
      return request.entity().withoutSizeLimit().getDataBytes().completionTimeout(settings.limits().bodyReadTimeout())
          .runWith(Sink.ignore(), materializer)
          .handle((drained, failure) -> {
            throw ApiError.tooLarge(limit);
          });
    }
    if (request.entity() instanceof HttpEntity.Strict strict) {
      // The whole body came with the headers (as a small request's does): nothing left to read.
      return CompletableFuture.completedFuture(strict.getData());
    }
    return request.entity().getDataBytes().completionTimeout(settings.limits().bodyReadTimeout())
        .runFold(ByteString.emptyByteString(), ByteString::concat, materializer)
        .handle((body, failure) -> {
          Throwable cause = unwrapped(failure);
          if (cause instanceof EntityStreamSizeException tooLarge) {
            throw ApiError.tooLarge(tooLarge.limit());
          }
          if (cause != null) {
            throw ApiError.badRequest(null, "The request body could not be read: " + cause.getMessage());
          }
          return body;
        });
  }

  private static Function<String, Optional<String>> headers(HttpRequest request) {
    return name -> request.getHeader(name).map(HttpHeader::value);
  }

  private HttpResponse sse(String sessionKey, Source<ByteString, NotUsed> frames) {
    // Frames that arrive while the connection is still writing go out together, in one chunk:
    // every frame stays whole, and none waits for another.
    return withSession(HttpResponse.create().withEntity(HttpEntities.createChunked(EVENT_STREAM,
            frames.via(KeepAlive.of(settings.keepAlive(), () -> KEEP_ALIVE)).conflate(ByteString::concat)))
        .addHeader(RawHeader.create("Cache-Control", "no-cache")), sessionKey);
  }

  /** @param sessionKey null: no conversation keeps the turn, so none is named */
  private static HttpResponse withSession(HttpResponse response, String sessionKey) {
    return sessionKey == null ? response : response.addHeader(RawHeader.create(TurnRequest.SESSION_HEADER, sessionKey));
  }

  private static HttpResponse json(int status, Object body) {
    return HttpResponse.create().withStatus(StatusCodes.get(status))
        .withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON, Json.bytes(body)));
  }

  /** The query parameter {@code param} as an integer from {@code min} to {@code max}, else a 400 naming it. */
  private static int integer(String param, String value, int min, int max, String expected) {
    try {
      int number = Integer.parseInt(value);
      if (number >= min && number <= max) {
        return number;
      }
    } catch (NumberFormatException e) {
      // answered below, as a number out of range is
    }
    throw ApiError.badRequest(param, param + " must be " + expected + ".");
  }
}
