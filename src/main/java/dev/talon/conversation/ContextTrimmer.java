package dev.talon.conversation;

import dev.talon.upstream.ModelRequest;

/**
 * Shortens a request that overflowed the model's context. The compaction stage replaces the
 * simple trimmer with a summariser.
 */
public interface ContextTrimmer {
  /** A shorter request, or the same one when nothing can be dropped. */
  ModelRequest trim(ModelRequest request);

  /**
   * Drops the older half of the conversation by {@link TokenEstimate} (images count), cutting only
   * where a user message starts, so a function call is never separated from its output and the
   * newest user message always stays.
   */
  ContextTrimmer DROP_OLDEST = request -> {
    var input = request.input();
    long total = TokenEstimate.of(input);
    long dropped = 0;
    for (int cut = 1; cut < input.size(); cut++) {
      dropped += TokenEstimate.of(input.get(cut - 1));
      if (dropped * 2 >= total && input.get(cut) instanceof ModelRequest.Message m
          && m.role() == ModelRequest.Role.USER) {
        return new ModelRequest(request.instructions(), input.subList(cut, input.size()), request.tools(),
            request.toolChoice(), request.maxOutputTokens(), request.temperature(), request.reasoningEffort());
      }
    }
    return request;
  };
}
