package dev.talon.conversation;

import dev.talon.upstream.ModelRequest;
import java.util.List;

/**
 * Stateless clients (OpenClaw, most Chat Completions clients) resend their whole history every
 * turn, also under a session key. Appended as a whole, it would reach the model twice, the
 * conversation's copy and the client's; so a turn whose items begin with the conversation's whole
 * model view brings only the items after it.
 */
final class ResentHistory {
  private ResentHistory() {}

  /**
   * The items of {@code request} that {@code turns} do not hold yet: those after the model view
   * when the request begins with all of it and has more, else the whole request. The view is
   * walked only as far as the request reaches, so a long conversation costs no more than a short
   * one.
   */
  static List<InputItem> newItems(List<ConversationEntity.Turn> turns, List<InputItem> request) {
    int matched = 0;
    for (ConversationEntity.Turn turn : turns) {
      for (ModelRequest.Item stored : turn.modelView()) {
        if (matched == request.size() || !same(stored, request.get(matched).toModelItem())) {
          return request;
        }
        matched++;
      }
    }
    // Nothing after the view: the client says again what it said, which is new input.
    return matched == request.size() ? request : List.copyOf(request.subList(matched, request.size()));
  }

  private static boolean same(ModelRequest.Item stored, ModelRequest.Item sent) {
    if (stored instanceof ModelRequest.FunctionCall call && sent instanceof ModelRequest.FunctionCall again) {
      // A call id names one call; clients parse the arguments and serialise them again in their
      // own spacing, so comparing those would miss the calls they resend.
      return call.callId().equals(again.callId()) && call.name().equals(again.name());
    }
    return stored.equals(sent);
  }
}
