package dev.talon.testing;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * What the fake answers to one generation request, whatever the endpoint: the same script renders
 * as Responses events, chat chunks or Anthropic Messages events. Immutable: every knob returns a
 * changed copy, so a script can be shared and enqueued many times.
 *
 * <p>A "token" is one frame that carries model output (a text, reasoning or argument delta; a
 * replayed fixture frame). Pacing and faults count tokens; with fewer tokens than a fault names,
 * the fault strikes right after the last one, always before the terminal event.
 */
public final class Script implements Cloneable {

  public enum Finish {
    STOP,
    LENGTH,
    TOOL_CALLS,
    CONTENT_FILTER
  }

  /** Where reasoning goes. The separate channels map to each protocol's own reasoning shape. */
  public enum ReasoningChannel {
    /** Chat {@code delta.reasoning_content}; Responses reasoning item; Anthropic thinking block. */
    REASONING_CONTENT,
    /** Chat {@code delta.reasoning}; elsewhere like {@link #REASONING_CONTENT}. */
    REASONING,
    /** Inline {@code <think>…</think>} in the visible text, on every protocol. */
    THINK_TAGS,
    /** Inline, but only {@code </think>}: the opening tag was in the prompt template. */
    THINK_TAGS_WITHOUT_OPEN
  }

  /** How function-call arguments are streamed. */
  public enum ArgumentDeltas {
    /** One delta per token (OpenAI). */
    MANY,
    /** One delta with the whole JSON (Ollama). */
    ONE,
    /**
     * No delta: Responses sends only {@code .done} (LM Studio); chat sends the whole call in one
     * chunk; Anthropic, which always streams the input, sends one delta.
     */
    NONE
  }

  public record ToolCall(String name, String arguments) {}

  public record Usage(int inputTokens, int outputTokens) {}

  enum Fault {
    NONE,
    STALL,
    DROP,
    MALFORMED_FRAME,
    STREAM_ERROR
  }

  enum Kind {
    REPLY,
    STATUS,
    FIXTURE
  }

  // Package-private so the renderers read them directly; never written after a copy is returned.
  Kind kind;
  List<String> textTokens = List.of();
  List<String> reasoningTokens = List.of();
  ReasoningChannel reasoningChannel = ReasoningChannel.REASONING_CONTENT;
  boolean reasoningSummary;
  List<ToolCall> toolCalls = List.of();
  ArgumentDeltas argumentDeltas = ArgumentDeltas.MANY;
  int toolIndexBase;
  Usage usage;
  Finish finish;

  int status = 200;
  String body;
  boolean bodyIsJson;
  Map<String, String> headers = Map.of();
  Path fixture;

  Duration headerDelay = Duration.ZERO;
  Duration firstTokenDelay = Duration.ZERO;
  CompletionStage<?> firstTokenRelease = CompletableFuture.completedFuture(null);
  Duration tokenDelay = Duration.ZERO;

  Fault fault = Fault.NONE;
  int faultAfterTokens;
  JsonNode streamError;

  int contextWindow;
  ServerKind overflowShape;

  Boolean eventLines;
  Boolean done;
  Boolean sequenceNumbers;
  boolean crlf;
  Duration keepAlive;
  int writeSize;

  private Script(Kind kind) {
    this.kind = kind;
  }

  // ---- what is answered ----

  /** A plain reply; the text is split into word and punctuation tokens, one delta each. */
  public static Script reply(String text) {
    Script script = new Script(Kind.REPLY);
    script.textTokens = tokenize(text);
    return script;
  }

  /** A reply without text, to be given reasoning or tool calls. */
  public static Script reply() {
    return reply("");
  }

  /**
   * Any status with a JSON error body, answered before any stream starts (use {@link ErrorBodies}).
   */
  public static Script status(int status, JsonNode body) {
    Script script = new Script(Kind.STATUS);
    script.status = status;
    script.body = Json.write(body);
    script.bodyIsJson = true;
    return script;
  }

  /** Any status with a plain-text body, as proxies answer. */
  public static Script status(int status, String text) {
    Script script = new Script(Kind.STATUS);
    script.status = status;
    script.body = text;
    return script;
  }

  /**
   * Replays a recorded file: {@code .sse} byte-exact (one write per event); {@code .chunks.jsonl}
   * re-framed one line per event with {@code event: <type>} when the line has a type; {@code .json}
   * as a non-streaming 200 body. Every replayed event counts as a token.
   */
  public static Script fixture(Path file) {
    Script script = new Script(Kind.FIXTURE);
    script.fixture = file;
    return script;
  }

  /** A recorded file, e.g. {@code openai-responses-text.sse}. */
  public static Script fixture(String fileName) {
    return fixture(TestResources.upstreamFixture(fileName));
  }

  public Script reasoning(String text) {
    return with(s -> s.reasoningTokens = tokenize(text));
  }

  public Script reasoningChannel(ReasoningChannel channel) {
    return with(s -> s.reasoningChannel = channel);
  }

  /**
   * Responses only: reasoning as summary parts (OpenAI) instead of raw {@code reasoning_text}
   * (local servers).
   */
  public Script reasoningSummary() {
    return with(s -> s.reasoningSummary = true);
  }

  /** Adds a function call after the text; call it again for parallel calls. */
  public Script toolCall(String name, String argumentsJson) {
    return with(
        s ->
            s.toolCalls =
                Stream.concat(toolCalls.stream(), Stream.of(new ToolCall(name, argumentsJson)))
                    .toList());
  }

  public Script argumentDeltas(ArgumentDeltas mode) {
    return with(s -> s.argumentDeltas = mode);
  }

  /** Chat only: the first {@code tool_calls[].index} (1 for Anthropic-via-OpenAI bridges). */
  public Script toolIndexBase(int base) {
    return with(s -> s.toolIndexBase = base);
  }

  /**
   * Reported usage; by default input is {@link Request#estimatedTokens()} and output the token
   * count.
   */
  public Script usage(int inputTokens, int outputTokens) {
    return with(s -> s.usage = new Usage(inputTokens, outputTokens));
  }

  /** By default {@code TOOL_CALLS} when there are tool calls, else {@code STOP}. */
  public Script finish(Finish reason) {
    return with(s -> s.finish = reason);
  }

  /** Adds a response header, e.g. {@code x-should-retry}. */
  public Script header(String name, String value) {
    return with(
        s -> {
          Map<String, String> copy = new LinkedHashMap<>(headers);
          copy.put(name, value);
          s.headers = Map.copyOf(copy);
        });
  }

  /** {@code Retry-After} in whole seconds, rounded up. */
  public Script retryAfter(Duration delay) {
    long seconds = (delay.toMillis() + 999) / 1000;
    return header("Retry-After", Long.toString(seconds));
  }

  // ---- timing ----

  /** Delay before the response headers, for any kind of answer. */
  public Script headerDelay(Duration delay) {
    return with(s -> s.headerDelay = delay);
  }

  /** Headers and preamble events are sent, then this passes before the first token. */
  public Script firstTokenDelay(Duration delay) {
    return with(s -> s.firstTokenDelay = delay);
  }

  /** Headers and preamble events are sent, then the first token waits until {@code release} completes. */
  public Script firstTokenAfter(CompletionStage<?> release) {
    return with(s -> s.firstTokenRelease = release);
  }

  /** Pause before every token after the first; zero is full speed. */
  public Script tokenDelay(Duration delay) {
    return with(s -> s.tokenDelay = delay);
  }

  // ---- faults (one per script: the last one set wins) ----

  /** Sends {@code tokens} tokens, then nothing more while keeping the connection open. */
  public Script stallAfter(int tokens) {
    return fault(Fault.STALL, tokens, null);
  }

  /**
   * Sends {@code tokens} tokens, then closes the TCP connection in the middle of the chunked body:
   * no terminal event, no last chunk. Every byte before the cut is flushed first (see {@link
   * ConnectionGuard}), so the client sees exactly those tokens, then the truncation.
   */
  public Script dropAfter(int tokens) {
    return fault(Fault.DROP, tokens, null);
  }

  /** Sends {@code tokens} tokens, then the next event cut mid-JSON plus a blank line, then ends. */
  public Script malformedFrameAfter(int tokens) {
    return fault(Fault.MALFORMED_FRAME, tokens, null);
  }

  /** Sends {@code tokens} tokens, then the protocol's in-stream error with its default body. */
  public Script streamErrorAfter(int tokens) {
    return fault(Fault.STREAM_ERROR, tokens, null);
  }

  /**
   * Sends {@code tokens} tokens, then the protocol's in-stream error: Responses {@code error} +
   * {@code response.failed}; chat {@code data: <errorBody>}; Anthropic {@code event: error}. The
   * body is an {@link ErrorBodies} shape ({@code {"error":…}}). Non-streaming requests get it as a
   * 500.
   */
  public Script streamErrorAfter(int tokens, JsonNode errorBody) {
    return fault(Fault.STREAM_ERROR, tokens, errorBody);
  }

  /**
   * Answers 400 context overflow when the request's {@link Request#estimatedTokens()} exceed the
   * window, in the endpoint's own shape (OpenAI, or Anthropic on {@code /v1/messages}).
   */
  public Script contextWindow(int tokens) {
    return with(s -> s.contextWindow = tokens);
  }

  /** Like {@link #contextWindow(int)}, in {@code server}'s body shape. */
  public Script contextWindow(int tokens, ServerKind server) {
    return with(
        s -> {
          s.contextWindow = tokens;
          s.overflowShape = server;
        });
  }

  // ---- framing (defaults are each protocol's canonical framing) ----

  /** With or without {@code event:} lines (events that have a name; chat chunks never do). */
  public Script eventLines(boolean on) {
    return with(s -> s.eventLines = on);
  }

  /** Append {@code data: [DONE]}; on by default for chat only. */
  public Script done(boolean on) {
    return with(s -> s.done = on);
  }

  /** Responses {@code sequence_number}; false strips it, also from replayed fixtures. */
  public Script sequenceNumbers(boolean on) {
    return with(s -> s.sequenceNumbers = on);
  }

  /** End lines with CRLF instead of LF. */
  public Script crlf() {
    return with(s -> s.crlf = true);
  }

  /** Sends a {@code : keep-alive} comment whenever the stream has been idle this long. */
  public Script keepAlive(Duration idle) {
    return with(s -> s.keepAlive = idle);
  }

  /**
   * Writes every frame in pieces of at most {@code bytes} bytes, each its own HTTP chunk, so reads
   * end mid-line and, with 1–3 bytes, inside multi-byte UTF-8 characters. 0 (the default) writes
   * each frame whole.
   */
  public Script writeSize(int bytes) {
    return with(s -> s.writeSize = bytes);
  }

  // ---- derived views shared by the renderers ----

  /** Inline-tag reasoning lives in the visible text; every other channel keeps it apart. */
  boolean inlineReasoning() {
    return !reasoningTokens.isEmpty()
        && (reasoningChannel == ReasoningChannel.THINK_TAGS
            || reasoningChannel == ReasoningChannel.THINK_TAGS_WITHOUT_OPEN);
  }

  /** The tokens of the visible text, with inline reasoning and its tags in front when so chosen. */
  List<String> visibleTokens() {
    if (!inlineReasoning()) {
      return textTokens;
    }
    List<String> tokens = new ArrayList<>();
    if (reasoningChannel == ReasoningChannel.THINK_TAGS) {
      tokens.add("<think>");
    }
    tokens.addAll(reasoningTokens);
    tokens.add("</think>");
    tokens.add("\n\n");
    tokens.addAll(textTokens);
    return tokens;
  }

  /** Reasoning sent on a separate channel; empty when inline. */
  List<String> separateReasoningTokens() {
    return inlineReasoning() ? List.of() : reasoningTokens;
  }

  /** The argument deltas of one call, per {@link ArgumentDeltas}. */
  List<String> argumentPieces(ToolCall call) {
    return switch (argumentDeltas) {
      case MANY -> tokenize(call.arguments());
      case ONE -> List.of(call.arguments());
      case NONE -> List.of();
    };
  }

  Finish finishReason() {
    if (finish != null) {
      return finish;
    }
    return toolCalls.isEmpty() ? Finish.STOP : Finish.TOOL_CALLS;
  }

  Usage usageFor(Request request) {
    if (usage != null) {
      return usage;
    }
    int output = textTokens.size() + reasoningTokens.size();
    for (ToolCall call : toolCalls) {
      output += Math.max(1, tokenize(call.arguments()).size());
    }
    return new Usage(request.estimatedTokens(), output);
  }

  // Words with their leading space, and runs of punctuation, like BPE tokenizers cut them.
  private static final Pattern TOKEN =
      Pattern.compile("\\s*[\\p{L}\\p{N}_]+|\\s*[^\\s\\p{L}\\p{N}_]+|\\s+");

  static List<String> tokenize(String text) {
    List<String> tokens = new ArrayList<>();
    Matcher matcher = TOKEN.matcher(text);
    while (matcher.find()) {
      tokens.add(matcher.group());
    }
    return List.copyOf(tokens);
  }

  private Script fault(Fault kind, int afterTokens, JsonNode error) {
    return with(
        s -> {
          s.fault = kind;
          s.faultAfterTokens = afterTokens;
          s.streamError = error;
        });
  }

  private Script with(Consumer<Script> change) {
    try {
      Script copy = (Script) clone();
      change.accept(copy);
      return copy;
    } catch (CloneNotSupportedException e) {
      throw new AssertionError(e);
    }
  }
}
