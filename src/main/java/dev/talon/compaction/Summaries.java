package dev.talon.compaction;

import dev.talon.upstream.ModelRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The summariser's side of a compaction: the request that folds turns into a summary, the chunks
 * a history too long for one request is split into, and how a summary enters the model view.
 */
public final class Summaries {
  private Summaries() {}

  static final String INSTRUCTIONS = """
      You maintain the memory of a long conversation between a user and an AI assistant. Older \
      parts of it are removed from the assistant's context and replaced by your summary, so \
      whatever you leave out is lost to the assistant for good.

      You get the current summary (possibly empty) and the turns being removed. Write a new \
      summary that merges both, as a structured checkpoint with exactly these sections:

      ## Goal
      ## Constraints and preferences
      ## Progress
      ### Done
      ### In progress
      ### Blocked
      ## Key decisions
      ## Next steps
      ## Critical context

      Under Critical context, copy verbatim every identifier, file path, URL, command, number, \
      name and error message that may matter later. Be concise elsewhere; no preamble, no closing \
      remarks: answer with the summary only.""";

  /** Marks the summary in the model view, so the model knows what it is reading. */
  static final String VIEW_PREFIX = "[Summary of the earlier conversation, which is no longer shown in full]\n\n";

  /**
   * The request for one summarising call.
   *
   * @param previous the summary so far, or null
   * @param turns the items being folded in, oldest first
   * @param focus what the user asked the summary to dwell on, or null
   * @param maxOutputTokens the longest summary wanted
   */
  public static ModelRequest request(String previous, List<String> turns, String focus, int maxOutputTokens) {
    StringBuilder text = new StringBuilder();
    text.append("<current-summary>\n").append(previous == null ? "" : previous).append("\n</current-summary>\n\n");
    text.append("<turns-being-removed>\n");
    turns.forEach(line -> text.append(line).append('\n'));
    text.append("</turns-being-removed>");
    if (focus != null && !focus.isBlank()) {
      text.append("\n\nFocus the summary on: ").append(focus.strip());
    }
    return new ModelRequest(INSTRUCTIONS, List.of(new ModelRequest.Message(ModelRequest.Role.USER, text.toString())),
        List.of(), null, maxOutputTokens, null, null);
  }

  /** The tokens a request costs besides its turns: the instructions, the summary so far and the focus. */
  public static long overhead(String previous, String focus) {
    return TokenEstimate.of(request(previous, List.of(), focus, 1));
  }

  /** Each item as a line of the transcript the summariser reads. */
  public static List<String> lines(List<ModelRequest.Item> items) {
    List<String> lines = new ArrayList<>(items.size());
    for (ModelRequest.Item item : items) {
      if (item instanceof ModelRequest.Message message) {
        lines.add("[" + message.role().name().toLowerCase(Locale.ROOT) + "] " + text(message.content()));
      } else if (item instanceof ModelRequest.FunctionCall call) {
        lines.add("[tool call " + call.callId() + "] " + call.name() + "(" + call.arguments() + ")");
      } else {
        ModelRequest.FunctionCallOutput output = (ModelRequest.FunctionCallOutput) item;
        lines.add("[tool result " + output.callId() + "] " + text(output.content()));
      }
    }
    return lines;
  }

  /**
   * {@code lines} in consecutive chunks of at most {@code tokens} each; a line longer than a
   * chunk by itself keeps its start and end, with how much was left out between them.
   */
  public static List<List<String>> chunks(List<String> lines, long tokens) {
    List<List<String>> chunks = new ArrayList<>();
    List<String> chunk = new ArrayList<>();
    long size = 0;
    for (String line : lines) {
      String fitted = shortened(line, tokens);
      long cost = TokenEstimate.ofText(fitted) + 1;
      if (!chunk.isEmpty() && size + cost > tokens) {
        chunks.add(chunk);
        chunk = new ArrayList<>();
        size = 0;
      }
      chunk.add(fitted);
      size += cost;
    }
    if (!chunk.isEmpty()) {
      chunks.add(chunk);
    }
    return chunks;
  }

  /** A summary no longer than {@code maxChars}, cut at a line end where there is one near. */
  public static String capped(String summary, int maxChars) {
    String text = summary.strip();
    if (text.length() <= maxChars) {
      return text;
    }
    String cut = text.substring(0, maxChars);
    int lineEnd = cut.lastIndexOf('\n');
    return lineEnd > maxChars * 3 / 4 ? cut.substring(0, lineEnd) : cut;
  }

  /** The summary as the model reads it, ahead of the kept turns. */
  public static ModelRequest.Message inView(String summary) {
    return new ModelRequest.Message(ModelRequest.Role.USER, VIEW_PREFIX + summary);
  }

  private static String shortened(String line, long tokens) {
    if (TokenEstimate.ofText(line) + 1 <= tokens) {
      return line;
    }
    // A quarter of a token budget in characters is safe even for CJK text (a token a character).
    int keep = (int) Math.max(16, tokens - 16) / 2;
    int omitted = line.length() - 2 * keep;
    if (omitted <= 0) {
      return line;
    }
    return line.substring(0, keep) + " […" + omitted + " characters left out…] " + line.substring(line.length() - keep);
  }

  private static String text(List<ModelRequest.Part> parts) {
    StringBuilder text = new StringBuilder();
    parts.forEach(part -> text.append(part instanceof ModelRequest.Text t ? t.text() : "[image]"));
    return text.toString();
  }
}
