package dev.talon.conversation;

import dev.talon.config.Model;
import dev.talon.config.TalonSettings.MidStream;
import dev.talon.upstream.ModelRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.pekko.Done;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.javadsl.Source;

/**
 * A turn runner that plays scripted turns in order and records every call. A turn streams
 * {@code Started}, its deltas, and then its outcome once its script is released; unscripted
 * turns answer "ok" at once.
 */
public final class ScriptedTurnRunner implements TurnRunner {

  public record Call(String turnId, List<Model> candidates, ModelRequest request, MidStream midStream) {}

  /** One scripted turn. */
  public static final class Script {
    private final List<String> deltas;
    private final String failure;
    private final CompletableFuture<Void> released = new CompletableFuture<>();
    private final CompletableFuture<Done> terminated = new CompletableFuture<>();

    private Script(List<String> deltas, String failure) {
      this.deltas = List.copyOf(deltas);
      this.failure = failure;
    }

    /** Lets the turn emit its outcome. */
    public void release() {
      released.complete(null);
    }

    /** Completes when the runner's stream ends, whether it finished or was cancelled. */
    public CompletableFuture<Done> terminated() {
      return terminated;
    }

    public String text() {
      return String.join("", deltas);
    }
  }

  private final ConcurrentLinkedQueue<Script> scripts = new ConcurrentLinkedQueue<>();
  private final BlockingQueue<Call> calls = new LinkedBlockingQueue<>();

  /** The next turn streams {@code deltas} and completes with their text. */
  public Script answer(String... deltas) {
    Script script = hold(deltas);
    script.release();
    return script;
  }

  /** The next turn streams {@code deltas}, then waits for {@link Script#release()} to complete. */
  public Script hold(String... deltas) {
    Script script = new Script(List.of(deltas), null);
    scripts.add(script);
    return script;
  }

  /** The next turn streams {@code deltas} and fails with {@code reason}. */
  public Script fail(String reason, String... deltas) {
    Script script = new Script(List.of(deltas), reason);
    script.release();
    scripts.add(script);
    return script;
  }

  public Call nextCall() throws InterruptedException {
    Call call = calls.poll(10, TimeUnit.SECONDS);
    if (call == null) {
      throw new AssertionError("the runner was not called within 10 s");
    }
    return call;
  }

  /** The most recent call, forgetting the ones before it. */
  public Call lastCall() {
    List<Call> all = new ArrayList<>();
    calls.drainTo(all);
    if (all.isEmpty()) {
      throw new AssertionError("the runner was not called");
    }
    return all.get(all.size() - 1);
  }

  @Override
  public Source<TurnEvent, NotUsed> run(String turnId, List<Model> candidates, ModelView view, MidStream midStream) {
    calls.add(new Call(turnId, candidates, view.request(), midStream));
    Script script = scripts.poll();
    if (script == null) {
      script = new Script(List.of("ok"), null);
      script.release();
    }
    String model = candidates.get(0).ref();
    Script played = script;
    Source<TurnEvent, NotUsed> head = Source.from(Stream.<TurnEvent>concat(
        Stream.of(new TurnEvent.Started(turnId, model)),
        played.deltas.stream().map(TurnEvent.TextDelta::new)).toList());
    // A server counts what it was sent: about what Talon estimates.
    long prompt = dev.talon.compaction.TokenEstimate.of(view.request());
    Source<TurnEvent, NotUsed> outcome = Source.completionStage(played.released.thenApply(ignored ->
        outcome(played, model, prompt)));
    return head.concat(outcome).watchTermination((notUsed, done) -> {
      done.whenComplete((d, error) -> played.terminated.complete(Done.getInstance()));
      return notUsed;
    });
  }

  private static TurnEvent outcome(Script script, String model, long promptTokens) {
    if (script.failure != null) {
      Attempt attempt = new Attempt(model, "SERVER_ERROR", 500, script.failure, 3);
      return new TurnEvent.Failed(script.failure, "SERVER_ERROR", List.of(attempt));
    }
    return new TurnEvent.Completed(new TurnResult(List.of(new OutputItem.Text(script.text())), null, model,
        List.of(new Attempt(model, null, 200, null, 5)), new TokenUsage(promptTokens, dev.talon.compaction.TokenEstimate.ofText(script.text()), 0, 0), 0.001,
        "stop", List.of(new TurnResult.Part(model, 0, script.text().length()))));
  }
}
