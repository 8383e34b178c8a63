package dev.talon.tools;

import java.time.Duration;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * One tool call of a running turn, as a child of the turn's conversation: it asks the server,
 * tells its parent once how the call went, and stops. The conversation stops it when the turn
 * ends first; a call whose server never answers ends at its own deadline, whatever the server
 * does.
 */
public final class ToolCall {
  /** How the call went: a result (which may be the tool's own error), or why there is none. */
  public record Done(String callId, ToolResult result, ToolFailure failure) {}

  /** What the call's actor receives: only its own messages. */
  public sealed interface Message {}

  private record Answered(ToolResult result, Throwable failure) implements Message {}

  private enum DeadlinePassed implements Message { INSTANCE }

  private ToolCall() {}

  /**
   * @param arguments the model's arguments, a JSON object as text (empty for none)
   */
  public static Behavior<Message> create(Toolbox servers, String callId, String server, String tool,
      String arguments, ActorRef<Done> replyTo) {
    return Behaviors.<Message>setup(context -> Behaviors.withTimers(timers -> {
      Duration deadline = servers.deadline(server);
      timers.startSingleTimer(DeadlinePassed.INSTANCE, deadline);
      context.pipeToSelf(servers.callWithJson(server, tool, arguments), Answered::new);
      return Behaviors.receive(Message.class)
          .onMessage(Answered.class, answered -> {
            Throwable cause = answered.failure() instanceof CompletionException c ? c.getCause() : answered.failure();
            replyTo.tell(new Done(callId, answered.result(), cause == null ? null : cause instanceof ToolFailure f ? f
                : new ToolFailure(ToolFailure.Reason.DOWN, server, "the call of " + server + "/" + tool + " failed: "
                    + cause)));
            return Behaviors.stopped();
          })
          .onMessage(DeadlinePassed.class, passed -> {
            replyTo.tell(new Done(callId, null, new ToolFailure(ToolFailure.Reason.TIMEOUT, server, "MCP server \""
                + server + "\" did not answer the call of " + tool + " within " + deadline.toSeconds() + " s")));
            return Behaviors.stopped();
          })
          .build();
    }));
  }
}
