package dev.talon.testing;

import java.nio.file.Path;

/**
 * The recorded upstream traffic and the example configs the tests read. They are copies, kept in
 * the project so that a clone tests on its own, of the shared folder's originals, which {@link
 * SharedCopiesTest} keeps them equal to.
 */
public final class TestResources {
  public static final String UPSTREAM_FIXTURES = "fixtures/upstream";
  public static final String CONFIG_EXAMPLES = "config-examples";

  /**
   * Tests run in the project directory (Surefire and IDEs alike). Reading the sources rather than
   * their class-path copies lets {@link SharedCopiesTest} see exactly what is committed, not a
   * stale file a build left behind.
   */
  static final Path ROOT = Path.of("src", "test", "resources");

  private TestResources() {}

  static Path folder(String folder) {
    return ROOT.resolve(folder);
  }

  /** A recorded body, e.g. {@code openai-responses-text.sse}; {@code ""} is the folder itself. */
  public static Path upstreamFixture(String fileName) {
    return folder(UPSTREAM_FIXTURES).resolve(fileName);
  }

  /** An OpenClaw config as a user would paste it, e.g. {@code local-first.json5}. */
  public static Path configExample(String fileName) {
    return folder(CONFIG_EXAMPLES).resolve(fileName);
  }
}
