package dev.talon.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Recordings and config examples are curated in the shared folder beside the checkout; the tests
 * read the project's copies. Where that folder exists, every file in it must have an identical
 * copy here. A clone without it has nothing to compare, so the check is skipped, never failed.
 */
class SharedCopiesTest {
  /** Surefire passes {@code talon.shared}; from an IDE the checkout's sibling folder is used. */
  static final Path SHARED = Path.of(System.getProperty("talon.shared", "../shared"));

  @ParameterizedTest
  @ValueSource(strings = {TestResources.UPSTREAM_FIXTURES, TestResources.CONFIG_EXAMPLES})
  void everySharedFileHasAnIdenticalCopy(String folder) throws IOException {
    Path originals = SHARED.resolve(folder).toAbsolutePath().normalize();
    assumeTrue(Files.isDirectory(originals), () -> "no " + originals + ": nothing to compare against");
    Path copies = TestResources.folder(folder);
    try (Stream<Path> files = Files.list(originals)) {
      List<String> stale = files.filter(Files::isRegularFile).sorted()
          .map(original -> staleCopy(original, copies.resolve(original.getFileName().toString())))
          .filter(problem -> !problem.isEmpty()).toList();
      assertTrue(stale.isEmpty(), () -> stale.size() + " file(s) of " + originals + " differ from the project's"
          + " copies in " + copies + "; copy each over, then commit:\n  " + String.join("\n  ", stale));
    }
  }

  /** {@code ""} when {@code copy} has the bytes of {@code original}, else what is wrong and the fix. */
  private static String staleCopy(Path original, Path copy) {
    String problem;
    try {
      problem = !Files.exists(copy) ? "missing" : Files.mismatch(original, copy) == -1 ? "" : "different";
    } catch (IOException e) {
      problem = "unreadable (" + e + ")";
    }
    return problem.isEmpty() ? "" : problem + ": " + copy + "  ->  cp '" + original + "' '" + copy + "'";
  }
}
