package dev.talon.gateway;

import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/** Tests that share one Talon node ({@link TalonApi}) across a class: starting one takes seconds. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class OnANode {
  @TempDir static Path dataDir;
  TalonApi api;

  @BeforeAll
  void startNode() throws Exception {
    api = TalonApi.start(dataDir);
  }

  @AfterAll
  void stopNode() throws Exception {
    api.close();
  }
}
