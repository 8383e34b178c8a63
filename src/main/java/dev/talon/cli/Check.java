package dev.talon.cli;

/**
 * One finding of {@code talon doctor}, printed as one line: what was checked, what was found
 * and, for a failure, what to try.
 *
 * @param subject what was checked, e.g. {@code provider lmstudio (http://127.0.0.1:1234/v1)}
 * @param fix null when the finding needs none, or already says what to try
 */
record Check(Outcome outcome, String subject, String finding, String fix) {

  enum Outcome {
    OK("ok", "32"),
    SKIP("skip", "33"),
    FAIL("FAIL", "31");

    final String label;
    /** The SGR colour of the label on a terminal: green, yellow, red. */
    final String colour;

    Outcome(String label, String colour) {
      this.label = label;
      this.colour = colour;
    }
  }

  static Check ok(String subject, String finding) {
    return new Check(Outcome.OK, subject, finding, null);
  }

  static Check skip(String subject, String finding) {
    return new Check(Outcome.SKIP, subject, finding, null);
  }

  static Check fail(String subject, String finding, String fix) {
    return new Check(Outcome.FAIL, subject, finding, fix);
  }

  boolean failed() {
    return outcome == Outcome.FAIL;
  }

  /** {@code ok    subject: finding}, with {@code — fix: …} after a failure; the label coloured only when asked. */
  String line(boolean colour) {
    String padding = " ".repeat(Math.max(1, 6 - outcome.label.length()));
    String label = colour ? "\u001b[" + outcome.colour + "m" + outcome.label + "\u001b[0m" : outcome.label;
    return label + padding + subject + ": " + finding + (fix == null ? "" : " — fix: " + fix);
  }
}
