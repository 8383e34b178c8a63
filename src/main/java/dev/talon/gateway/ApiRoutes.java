package dev.talon.gateway;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.talon.cluster.Conversations;
import dev.talon.config.GatewaySettings;
import dev.talon.config.ModelCatalog;
import dev.talon.conversation.ConversationEntity.Busy;
import dev.talon.conversation.ConversationEntity.Cancelled;
import dev.talon.conversation.ConversationEntity.Rejected;
import dev.talon.conversation.ConversationEntity.StartReply;
import dev.talon.conversation.ConversationEntity.Subscribed;
import dev.talon.conversation.ConversationEntity.Turn;
import dev.talon.conversation.ConversationEntity.TurnAccepted;
import dev.talon.conversation.TurnEvent;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Function;
import java.util.function.Supplier;
import org.apache.pekko.Done;
import org.apache.pekko.NotUsed;
import org.apache.pekko.http.javadsl.model.ContentType;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
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
import org.apache.pekko.stream.StreamLimitReachedException;
import org.apache.pekko.stream.javadsl.Sink;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.util.ByteString;

/**
 * The OpenAI-compatible API: Responses and Chat Completions (streamed or not), stored responses,
 * conversations, models, health and readiness. Every failure leaves as an OpenAI-style error
 * (see {@link ApiError}); nothing reaches a conversation until the request has been read and
 * checked.
 */
public final class ApiRoutes extends AllDirectives {
  private static final ContentType EVENT_STREAM = MediaTypes.TEXT_EVENT_STREAM.toContentType();
  private static final ByteString KEEP_ALIVE = ByteString.fromString(": keep-alive\n\n");
  private static final long BODY_READ_TIMEOUT_MILLIS = 60_000;

  private final ModelCatalog catalog;
  private final Conversations conversations;
  private final GatewaySettings settings;
  private final Materializer materializer;
  private final CompletionStage<Done> started;
  private final AtomicBoolean draining = new AtomicBoolean();

  /** @param started completes once storage and sharding are up: {@code /ready} answers 200 from then on */
  public ApiRoutes(ModelCatalog catalog, Conversations conversations, GatewaySettings settings,
      Materializer materializer, CompletionStage<Done> started) {
    this.catalog = catalog;
    this.conversations = conversations;
    this.settings = settings;
    this.materializer = materializer;
    this.started = started;
  }

  /** From now on {@code /ready} answers 503, so a load balancer stops sending new work. */
  public void drain() {
    draining.set(true);
  }

  public Route route() {
    return handleRejections(rejections(), () -> concat(
        new HealthRoutes().route(),
        path("ready", () -> get(this::ready)),
        pathPrefix("v1", () -> authenticated(() -> concat(
            path("responses", () -> post(() -> answer(this::createResponse))),
            path(PathMatchers.segment("responses").slash(PathMatchers.segment()), id -> get(() ->
                parameterOptional("stream", stream -> parameterOptional("starting_after", after ->
                    answer(request -> getResponse(id, stream.map(Boolean::parseBoolean).orElse(false),
                        after.map(ApiRoutes::sequenceNumber).orElse(-1))))))),
            path(PathMatchers.segment("responses").slash(PathMatchers.segment()).slash("cancel"), id ->
                post(() -> answer(request -> cancelResponse(id)))),
            path(PathMatchers.segment("chat").slash("completions"), () -> post(() -> answer(this::createChat))),
            path("models", () -> get(() -> answer(request -> CompletableFuture.completedFuture(json(200, models()))))),
            path(PathMatchers.segment("models").slash(PathMatchers.remaining()), id -> get(() ->
                answer(request -> model(id)))),
            path(PathMatchers.segment("conversations").slash(PathMatchers.segment()), key -> concat(
                get(() -> answer(request -> transcript(key))),
                delete(() -> answer(request -> reset(key))))))))));
  }

  // ---- Responses ----------------------------------------------------------------------------

  private CompletionStage<HttpResponse> createResponse(HttpRequest http) {
    return body(http).thenCompose(body -> {
      TurnRequest request = TurnRequest.responses(body, headers(http), catalog, settings.exposeReasoning());
      return start(request).thenCompose(accepted -> {
        String id = ResponseIds.of(request.sessionKey(), accepted.turnId());
        ResponsesStream stream = new ResponsesStream(new ResponsesStream.Shape(id, request.sessionKey(), now(),
            request.model().name(), body, request.includeReasoning()));
        Source<TurnEvent, NotUsed> events = events(accepted.events().getSource());
        return request.stream()
            ? CompletableFuture.completedFuture(sse(request.sessionKey(), responsesFrames(events, stream, -1)))
            : events.runWith(Sink.seq(), materializer).thenApply(all -> {
              completed(all);
              return withSession(json(200, stream.finalResponse(all)), request.sessionKey());
            });
      });
    });
  }

  private CompletionStage<HttpResponse> getResponse(String id, boolean stream, int startingAfter) {
    ResponseIds.Ref ref = responseRef(id);
    return storedTurn(ref).thenCompose(turn -> {
      ResponsesStream encoder = new ResponsesStream(new ResponsesStream.Shape(id, ref.sessionKey(),
          turn.startedAt().getEpochSecond(), requestedModel(turn), Json.object(), true));
      if (!stream) {
        return CompletableFuture.completedFuture(json(200, encoder.finalResponse(Transcripts.events(turn))));
      }
      // A turn still in memory is replayed from its log, live to the end; one read back from the
      // journal is told from the stored outcome.
      return conversations.subscribe(ref.sessionKey(), ref.turnId(), 0).thenApply(reply -> {
        Source<TurnEvent, NotUsed> events = reply instanceof Subscribed subscribed
            ? events(subscribed.events().getSource())
            : Source.from(Transcripts.events(turn));
        return sse(ref.sessionKey(), responsesFrames(events, encoder, startingAfter));
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

  private Source<ByteString, NotUsed> responsesFrames(Source<TurnEvent, NotUsed> events, ResponsesStream encoder,
      int startingAfter) {
    return events.mapConcat(encoder::on)
        .filter(frame -> frame.data().get("sequence_number").intValue() > startingAfter)
        .map(frame -> ByteString.fromString("event: " + frame.type() + "\ndata: " + Json.text(frame.data()) + "\n\n"));
  }

  // ---- Chat Completions ---------------------------------------------------------------------

  private CompletionStage<HttpResponse> createChat(HttpRequest http) {
    return body(http).thenCompose(body -> {
      TurnRequest request = TurnRequest.chat(body, headers(http), catalog, settings.exposeReasoning());
      return start(request).thenCompose(accepted -> {
        String id = "chatcmpl-" + ResponseIds.of(request.sessionKey(), accepted.turnId()).substring("resp_".length());
        ChatStream chat = new ChatStream(id, now(), request.model().name(), request.includeReasoning(),
            request.includeUsage());
        Source<TurnEvent, NotUsed> events = events(accepted.events().getSource());
        if (request.stream()) {
          return CompletableFuture.completedFuture(sse(request.sessionKey(), events.mapConcat(chat::on)
              .map(data -> ByteString.fromString("data: " + (data instanceof String s ? s : Json.text(data)) + "\n\n"))));
        }
        return events.runWith(Sink.seq(), materializer).thenApply(all ->
            withSession(json(200, chat.completion(completed(all).result())), request.sessionKey()));
      });
    });
  }

  // ---- conversations and models -------------------------------------------------------------

  private CompletionStage<HttpResponse> transcript(String key) {
    return conversations.transcript(key).thenApply(transcript -> {
      ObjectNode out = Json.object().put("object", "conversation").put("session_key", key);
      ArrayNode turns = out.putArray("turns");
      for (Turn turn : transcript.turns()) {
        ObjectNode node = Json.MAPPER.valueToTree(turn);
        node.put("response_id", ResponseIds.of(key, turn.turnId()));
        turns.add(node);
      }
      return json(200, out);
    });
  }

  private CompletionStage<HttpResponse> reset(String key) {
    return conversations.reset(key).thenApply(done -> json(200,
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

  private Route ready() {
    boolean up = started.toCompletableFuture().isDone() && !started.toCompletableFuture().isCompletedExceptionally()
        && !draining.get();
    return complete(up ? StatusCodes.OK : StatusCodes.SERVICE_UNAVAILABLE, HttpEntities.create(
        ContentTypes.APPLICATION_JSON, up ? "{\"status\":\"ready\"}" : "{\"status\":\"starting or draining\"}"));
  }

  // ---- turns --------------------------------------------------------------------------------

  /** Starts the turn, after checking that {@code previous_response_id} names the conversation's last turn. */
  private CompletionStage<TurnAccepted> start(TurnRequest request) {
    CompletionStage<Done> checked = request.previousTurnId() == null
        ? CompletableFuture.completedFuture(Done.getInstance())
        : conversations.transcript(request.sessionKey()).thenApply(transcript -> {
          List<Turn> turns = transcript.turns();
          if (turns.stream().noneMatch(turn -> turn.turnId().equals(request.previousTurnId()))) {
            throw ApiError.notFound("response_not_found", "previous_response_id",
                "No response with id '" + ResponseIds.of(request.sessionKey(), request.previousTurnId()) + "' exists.");
          }
          if (!turns.get(turns.size() - 1).turnId().equals(request.previousTurnId())) {
            throw new ApiError(409, "invalid_request_error", "previous_response_not_latest", "previous_response_id",
                "previous_response_id must name the conversation's latest response: Talon continues conversations,"
                    + " it does not branch them.");
          }
          return Done.getInstance();
        });
    return checked.thenCompose(ok -> conversations.startTurn(request.sessionKey(), request.model().agentId(),
        request.model().modelRef(), request.turn(), request.midStream())).thenApply(ApiRoutes::accepted);
  }

  private static TurnAccepted accepted(StartReply reply) {
    if (reply instanceof TurnAccepted accepted) {
      return accepted;
    }
    if (reply instanceof Busy busy) {
      throw ApiError.busy(busy.turnId());
    }
    throw ApiError.badRequest(null, ((Rejected) reply).reason());
  }

  /** A broken link to the conversation ends the stream with a failure, never silence. */
  private static Source<TurnEvent, NotUsed> events(Source<TurnEvent, NotUsed> source) {
    return source.recover(Throwable.class, () -> new TurnEvent.Failed("the link to the conversation broke",
        "INTERNAL", List.of())).mapMaterializedValue(m -> NotUsed.getInstance());
  }

  /** The outcome of a turn that was not streamed; a failed turn is the request's error (502/503). */
  private static TurnEvent.Completed completed(List<TurnEvent> events) {
    TurnEvent last = events.get(events.size() - 1);
    if (last instanceof TurnEvent.Failed failed) {
      throw ApiError.turnFailed(failed);
    }
    return (TurnEvent.Completed) last;
  }

  private CompletionStage<Turn> storedTurn(ResponseIds.Ref ref) {
    return conversations.transcript(ref.sessionKey()).thenApply(transcript -> transcript.turns().stream()
        .filter(turn -> turn.turnId().equals(ref.turnId())).findFirst()
        .orElseThrow(() -> notFound(ResponseIds.of(ref.sessionKey(), ref.turnId()))));
  }

  private static ResponseIds.Ref responseRef(String id) {
    return ResponseIds.parse(id).orElseThrow(() -> notFound(id));
  }

  private static ApiError notFound(String id) {
    return ApiError.notFound("response_not_found", null, "No response with id '" + id + "' exists.");
  }

  private static String requestedModel(Turn turn) {
    return turn.requestedModel() != null ? turn.requestedModel() : turn.agentId();
  }

  // ---- HTTP plumbing ------------------------------------------------------------------------

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

  private static HttpResponse errorResponse(Throwable failure) {
    Throwable e = failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure;
    if (e instanceof ApiError api) {
      return api.response();
    }
    if (e instanceof TimeoutException) {
      return ApiError.unavailable("The conversation did not answer in time; try again.").response();
    }
    return ApiError.internal("Internal error: " + e).response();
  }

  private CompletionStage<ObjectNode> body(HttpRequest request) {
    long limit = settings.maxBodyBytes();
    if (request.entity().getContentLengthOption().orElse(0L) > limit) {
      request.discardEntityBytes(materializer);
      return CompletableFuture.failedStage(ApiError.tooLarge(limit));
    }
    // Counted as it arrives, so a chunked body without a length is refused as soon as it is too long.
    return request.entity().getDataBytes().limitWeighted(limit, chunk -> (long) chunk.size())
        .completionTimeout(Duration.ofMillis(BODY_READ_TIMEOUT_MILLIS))
        .runFold(ByteString.emptyByteString(), ByteString::concat, materializer)
        .handle((body, failure) -> {
          if (failure instanceof StreamLimitReachedException
              || failure instanceof CompletionException && failure.getCause() instanceof StreamLimitReachedException) {
            throw ApiError.tooLarge(limit);
          }
          if (failure != null) {
            throw ApiError.badRequest(null, "The request body could not be read: " + failure.getMessage());
          }
          return Json.requestObject(body.toArray());
        });
  }

  private static Function<String, Optional<String>> headers(HttpRequest request) {
    return name -> request.getHeader(name).map(HttpHeader::value);
  }

  private HttpResponse sse(String sessionKey, Source<ByteString, NotUsed> frames) {
    return withSession(HttpResponse.create().withEntity(HttpEntities.createChunked(EVENT_STREAM,
            frames.keepAlive(settings.keepAlive(), () -> KEEP_ALIVE)))
        .addHeader(RawHeader.create("Cache-Control", "no-cache")), sessionKey);
  }

  private static HttpResponse withSession(HttpResponse response, String sessionKey) {
    return response.addHeader(RawHeader.create(TurnRequest.SESSION_HEADER, sessionKey));
  }

  private static HttpResponse json(int status, Object body) {
    return HttpResponse.create().withStatus(StatusCodes.get(status))
        .withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON, Json.bytes(body)));
  }

  private static int sequenceNumber(String value) {
    try {
      return Integer.parseInt(value);
    } catch (NumberFormatException e) {
      throw ApiError.badRequest("starting_after", "starting_after must be an integer sequence number.");
    }
  }

  private static long now() {
    return Instant.now().getEpochSecond();
  }

  private RejectionHandler rejections() {
    return RejectionHandler.newBuilder()
        .handleAll(MethodRejection.class, rejected -> complete(new ApiError(405, "invalid_request_error",
            "method_not_allowed", null, "Method not allowed here; use " + rejected.get(0).supported().value() + ".")
            .response()))
        .handleNotFound(extractUnmatchedPath(path -> complete(ApiError.notFound("unknown_url", null,
            "Unknown endpoint '" + path + "'.").response())))
        .build();
  }
}
