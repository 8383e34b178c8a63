package dev.talon.cli;

import dev.talon.cluster.JournalDatabase;
import dev.talon.cluster.JournalSchema;
import dev.talon.cluster.StorageException;
import dev.talon.config.GatewaySettings;
import dev.talon.config.TalonSettings;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.ServerSocket;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;

/**
 * The checks of {@code talon doctor} that need no model server: the data directory, the journal,
 * the ports, the gateway's auth and the cluster's TLS. Each finds what {@code serve} would trip
 * over, without starting anything or leaving anything behind.
 */
final class LocalChecks {
  private LocalChecks() {}

  /** {@code serve} creates the data directory and writes the H2 file and the response-id secret there. */
  static Check dataDirectory(Path dir) {
    Path path = dir.toAbsolutePath().normalize();
    String subject = "data directory " + path;
    String problem = unwritable(path);
    if (problem != null) {
      return Check.fail(subject, problem, "point --data, $TALON_DATA or talon.dataDir at a directory Talon may write");
    }
    return Check.ok(subject, Files.isDirectory(path) ? "writable" : "does not exist yet; serve creates it");
  }

  /** Why {@code dir} cannot be written (created first if need be), or null when it can. */
  private static String unwritable(Path dir) {
    if (Files.isDirectory(dir)) {
      // Permission bits do not tell (root ignores them, ACLs and read-only mounts add to them): write.
      try {
        Files.delete(Files.createTempFile(dir, ".talon-doctor-", ".tmp"));
        return null;
      } catch (IOException e) {
        return "not writable: " + reason(e);
      }
    }
    if (Files.exists(dir)) {
      return "it is a file, not a directory";
    }
    Path existing = dir.getParent();
    while (existing != null && !Files.exists(existing)) {
      existing = existing.getParent();
    }
    if (existing == null || !Files.isDirectory(existing)) {
      return "cannot be created: " + existing + " is a file, not a directory";
    }
    // Not written to: a test file in a directory of the user's that Talon will not use is not ours to make.
    return Files.isWritable(existing) ? null : "cannot be created: " + existing + " is not writable";
  }

  /** The journal as {@code serve} would open it: the H2 file, or the PostgreSQL database and its tables. */
  static Check journal(TalonSettings.Storage storage, Path dataDir) {
    JournalDatabase database = JournalDatabase.of(storage, dataDir);
    return switch (database.type()) {
      case H2 -> h2(database, dataDir.toAbsolutePath().normalize());
      case POSTGRES -> postgres(database);
    };
  }

  private static Check h2(JournalDatabase database, Path dataDir) {
    if (database.h2File().isEmpty()) {
      return Check.skip("journal h2 " + database.url(), "not a file on this machine, not checked");
    }
    Path file = database.h2File().get().toAbsolutePath().normalize();
    String subject = "journal h2 " + file;
    String fix = "stop the other Talon (or whatever holds it), or give this one another --data directory";
    if (!Files.exists(file)) {
      Path dir = file.getParent();
      String problem = dir.equals(dataDir) ? null : unwritable(dir); // the data directory has its own line
      return problem == null ? Check.ok(subject, "not created yet; serve creates it")
          : Check.fail(subject, "its directory " + problem, "correct talon.storage.url");
    }
    // H2 locks its file for as long as a process has it open; a second Talon would fail to start.
    try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
      FileLock lock = channel.tryLock();
      if (lock == null) {
        return Check.fail(subject, "in use by another process (a running Talon?)", fix);
      }
      lock.release();
      return Check.ok(subject, "writable, not in use");
    } catch (OverlappingFileLockException e) {
      return Check.fail(subject, "in use by this process", fix);
    } catch (IOException e) {
      return Check.fail(subject, "cannot be opened for writing: " + reason(e),
          "make it writable for the user that runs Talon");
    }
  }

  private static Check postgres(JournalDatabase database) {
    String subject = "journal postgres " + database.url() + " (user \"" + database.user() + "\")";
    JournalSchema.Inspection found;
    try {
      found = JournalSchema.inspect(database);
    } catch (StorageException e) {
      return Check.fail(subject, e.getMessage(), "start PostgreSQL, or correct talon.storage.url, .user and .password");
    }
    if (found.missingTables().isEmpty()) {
      return Check.ok(subject, "reachable, the journal tables are there");
    }
    if (found.mayCreate()) {
      return Check.ok(subject, "reachable, no journal tables yet: serve creates them in schema " + found.schema());
    }
    String missing = String.join(", ", found.missingTables());
    if (found.schema() == null) {
      return Check.fail(subject, "reachable, but the journal tables (" + missing + ") are missing and no schema of"
          + " the user's search_path exists", "create a schema the user owns, or set its search_path to one");
    }
    return Check.fail(subject, "reachable, but the journal tables (" + missing + ") are missing and the user may"
        + " not create tables in schema " + found.schema(),
        "as its owner, GRANT CREATE ON SCHEMA " + found.schema() + " TO \"" + database.user() + "\"");
  }

  /** Whether {@code serve} could listen on {@code host:port}: an address of this machine, the port free. */
  static Check port(String what, String host, int port, String setting) {
    String subject = what + " " + host + ":" + port;
    InetAddress address;
    try {
      address = InetAddress.getByName(host);
      if (!address.isAnyLocalAddress() && NetworkInterface.getByInetAddress(address) == null) {
        return Check.fail(subject, host + " is not an address of this machine",
            "use loopback, 0.0.0.0 or one of this machine's addresses");
      }
    } catch (IOException e) {
      return Check.fail(subject, "cannot resolve " + host + ": " + e.getMessage(), "correct the address");
    }
    // Java sets SO_REUSEADDR on Unix, as Pekko does: a port left in TIME_WAIT is free for both.
    try (ServerSocket socket = new ServerSocket()) {
      socket.bind(new InetSocketAddress(address, port));
      return Check.ok(subject, "free");
    } catch (IOException e) {
      return Check.fail(subject, "cannot listen: " + e.getMessage(),
          "stop what listens there (a running Talon?), or choose another port: " + setting);
    }
  }

  /**
   * Who can reach the API. (A bind beyond loopback without a token never gets here: the config
   * itself is refused.)
   */
  static Check auth(GatewaySettings gateway) {
    String subject = "gateway auth";
    if (GatewaySettings.isLoopback(gateway.bind())) {
      return Check.ok(subject,
          "loopback only" + (gateway.authToken().isPresent() ? ", token set" : ", no token needed"));
    }
    return Check.ok(subject, "token set for " + gateway.bind());
  }

  /**
   * Beyond loopback the config requires TLS; here its key and trust stores must open with their
   * passwords. Nodes of one cluster must seal response ids with one key.
   */
  static List<Check> cluster(TalonSettings.Cluster cluster, GatewaySettings gateway) {
    List<Check> checks = new ArrayList<>();
    String subject = "cluster " + cluster.host() + (cluster.multiNode() ? " (" + cluster.seedNodes().size()
        + " seed nodes)" : " (one node)");
    if (cluster.multiNode() && gateway.responseIdSecret().isEmpty()) {
      checks.add(Check.fail(subject, "no gateway.responseIdSecret: each node would seal response ids with a key of"
          + " its own, unknown to the others", "set gateway.responseIdSecret to the same random value on every node"
          + " (openssl rand -hex 32)"));
    }
    if (cluster.tls().isEmpty()) {
      checks.add(Check.ok(subject, "loopback only, no TLS needed"));
    } else {
      TalonSettings.Tls tls = cluster.tls().get();
      String keys = unopenable(tls.keyStore(), tls.keyStorePassword(), tls.keyPassword());
      String trust = unopenable(tls.trustStore(), tls.trustStorePassword(), null);
      if (keys != null) {
        checks.add(Check.fail(subject, "TLS key store: " + keys,
            "check talon.cluster.tls.keyStore, .keyStorePassword and .keyPassword"));
      }
      if (trust != null) {
        checks.add(Check.fail(subject, "TLS trust store: " + trust,
            "check talon.cluster.tls.trustStore and .trustStorePassword"));
      }
      if (keys == null && trust == null) {
        checks.add(Check.ok(subject, "TLS, key store and trust store open"));
      }
    }
    if (cluster.port() != 0) {
      checks.add(port("cluster port", cluster.host(), cluster.port(), "talon.cluster.port"));
    }
    return checks;
  }

  /**
   * Why the Java key store at {@code path} (relative to the working directory, as Pekko reads it)
   * does not open, or its key does not with {@code keyPassword}; null when both do.
   */
  private static String unopenable(String path, String password, String keyPassword) {
    Path file = Path.of(path).toAbsolutePath();
    if (!Files.isRegularFile(file)) {
      return file + " not found";
    }
    try {
      KeyStore store = KeyStore.getInstance(file.toFile(), password.toCharArray());
      if (keyPassword != null) {
        KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm()).init(store, keyPassword.toCharArray());
      }
      return null;
    } catch (IOException | GeneralSecurityException e) {
      return "cannot open " + file + ": " + e.getMessage();
    }
  }

  /** What the file system said, without the path the line already names. */
  private static String reason(IOException e) {
    if (e instanceof AccessDeniedException) {
      return "permission denied";
    }
    return e instanceof FileSystemException f && f.getReason() != null ? f.getReason() : e.getMessage();
  }
}
