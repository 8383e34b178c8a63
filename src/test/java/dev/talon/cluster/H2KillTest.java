package dev.talon.cluster;

/** SIGKILL on the embedded default: an H2 file under the data directory. */
class H2KillTest extends KillContract {
  @Override
  String storage() {
    return "{ type: \"h2\" }";
  }
}
