package dev.talon.config;

import java.util.List;

/**
 * Talon's own {@code talon} key: where data lives and how the runtime is deployed.
 *
 * @param dataDir null means the default, {@code ./data}
 */
public record TalonSettings(String dataDir, Storage storage, Cluster cluster) {

  /** The event journal: an embedded H2 file (default) or PostgreSQL. */
  public record Storage(Type type, String url, String user, String password) {
    public enum Type {
      H2,
      POSTGRES
    }
  }

  /**
   * Pekko cluster membership. With no seed nodes the process forms a one-node cluster by itself.
   *
   * @param port 0 picks a free port
   */
  public record Cluster(String host, int port, List<String> seedNodes) {
    public Cluster {
      seedNodes = List.copyOf(seedNodes);
    }
  }
}
