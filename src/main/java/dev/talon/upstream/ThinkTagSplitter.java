package dev.talon.upstream;

import dev.talon.upstream.ModelEvent.ReasoningDelta;
import dev.talon.upstream.ModelEvent.TextDelta;
import java.util.ArrayList;
import java.util.List;

/**
 * Separates inline {@code <think>…</think>} reasoning from answer text in a streamed content
 * channel (llama.cpp {@code --reasoning-format none}, vLLM without a reasoning parser, LM Studio
 * with separation off). Tags may be split across chunks, so a partial tag is held back.
 *
 * <p>A reply thinks in tags only if it opens with {@code <think>}: nothing is held beyond the few
 * characters that could still become that tag, so a reply without one streams as it arrives. A
 * reply that only closes the tag (the template put {@code <think>} into the prompt) cannot be told
 * apart from an answer without holding all of it back; it is streamed as answer text instead.
 */
final class ThinkTagSplitter {
  private static final String OPEN = "<think>";
  private static final String CLOSE = "</think>";

  private enum State { START, THINK, TEXT, PASSTHROUGH }

  private final StringBuilder held = new StringBuilder();
  private State state;
  private boolean stripNewlines;

  /** @param parsesTags false passes all content through as answer text (compat {@code thinkTags: false}) */
  ThinkTagSplitter(boolean parsesTags) {
    this.state = parsesTags ? State.START : State.PASSTHROUGH;
  }

  /** The server sends reasoning in a field of its own: tags in the content are not parsed. */
  List<ModelEvent> disable() {
    List<ModelEvent> out = flush();
    state = State.PASSTHROUGH;
    return out;
  }

  List<ModelEvent> accept(String chunk) {
    if (state == State.PASSTHROUGH || (state == State.TEXT && !stripNewlines)) {
      return chunk.isEmpty() ? List.of() : List.of(new TextDelta(chunk));
    }
    held.append(chunk);
    List<ModelEvent> out = new ArrayList<>(2);
    split(out);
    return out;
  }

  /** The content channel ended: release whatever is held. */
  List<ModelEvent> flush() {
    List<ModelEvent> out = new ArrayList<>(1);
    if (held.length() > 0) {
      out.add(state == State.THINK ? new ReasoningDelta(held.toString()) : new TextDelta(held.toString()));
      held.setLength(0);
    }
    if (state == State.START) {
      state = State.TEXT;
    }
    return out;
  }

  private void split(List<ModelEvent> out) {
    switch (state) {
      case START -> start(out);
      case THINK -> think(out);
      case TEXT -> text(out);
      case PASSTHROUGH -> throw new IllegalStateException("passthrough text is never held");
    }
  }

  private void start(List<ModelEvent> out) {
    String stripped = held.toString().stripLeading();
    if (stripped.startsWith(OPEN)) {
      held.delete(0, held.indexOf(OPEN) + OPEN.length());
      state = State.THINK;
      stripNewlines = true;
      think(out);
    } else if (!OPEN.startsWith(stripped)) { // else it could still become "<think>": wait for more
      state = State.TEXT;
      text(out);
    }
  }

  private void think(List<ModelEvent> out) {
    if (!stripLeadingNewlines()) {
      return;
    }
    int close = held.indexOf(CLOSE);
    if (close >= 0) {
      emit(out, true, held.substring(0, close));
      held.delete(0, close + CLOSE.length());
      toText(out);
      return;
    }
    int keep = partialTagLength(held, CLOSE);
    emit(out, true, held.substring(0, held.length() - keep));
    held.delete(0, held.length() - keep);
  }

  private void toText(List<ModelEvent> out) {
    state = State.TEXT;
    stripNewlines = true;
    text(out);
  }

  private void text(List<ModelEvent> out) {
    if (stripLeadingNewlines()) {
      emit(out, false, held.toString());
      held.setLength(0);
    }
  }

  /**
   * Drops the line breaks that follow a tag (templates put them there; they are not content).
   * False while only line breaks have arrived: more may follow in the next chunk.
   */
  private boolean stripLeadingNewlines() {
    if (stripNewlines) {
      int i = 0;
      while (i < held.length() && (held.charAt(i) == '\n' || held.charAt(i) == '\r')) {
        i++;
      }
      held.delete(0, i);
      if (held.length() == 0) {
        return false;
      }
      stripNewlines = false;
    }
    return true;
  }

  private static void emit(List<ModelEvent> out, boolean reasoning, String text) {
    if (!text.isEmpty()) {
      out.add(reasoning ? new ReasoningDelta(text) : new TextDelta(text));
    }
  }

  /** How many trailing characters of {@code text} could be the start of {@code tag}. */
  private static int partialTagLength(CharSequence text, String tag) {
    for (int n = Math.min(tag.length() - 1, text.length()); n > 0; n--) {
      if (tag.startsWith(text.subSequence(text.length() - n, text.length()).toString())) {
        return n;
      }
    }
    return 0;
  }
}
