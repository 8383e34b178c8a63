package dev.talon.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.talon.cluster.JournalDatabase;
import dev.talon.cluster.JournalSchema;
import dev.talon.cluster.PostgresRuntimeTest;
import dev.talon.config.TalonSettings;
import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Request;
import dev.talon.testing.ServedModel;
import dev.talon.testing.ServerKind;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code talon doctor} in process against real loopback servers: the fake upstream imitating LM
 * Studio and vLLM, closed and silent ports, a taken gateway port, unusable storage. Each broken
 * setup fails exactly the check it breaks, with its fix.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class DoctorTest {
  static final FakeUpstream fake = FakeUpstream.start();
  /** The model servers' timeout: a test waits for no server longer. */
  static final String BOUNDED = "upstream: { localFirstTokenTimeoutSeconds: 5 }";
  @TempDir Path dir;

  @AfterAll
  static void stop() {
    fake.close();
  }

  /** A port nothing listens on (the OS does not hand it out again at once). */
  static int closedPort() throws IOException {
    try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return socket.getLocalPort();
    }
  }

  /**
   * A config with one provider {@code id} at {@code baseUrl} serving {@code models}, the gateway on
   * a free port with {@code gateway} keys, the data directory in the test's folder, and the
   * {@code talon} keys.
   */
  Path config(String id, String baseUrl, String models, String gateway, String talon) throws IOException {
    Path file = dir.resolve("talon.json5");
    Files.writeString(file, """
        {
          models: { providers: { %s: { baseUrl: '%s', apiKey: 'local', models: [%s] } } },
          gateway: { port: %d, %s },
          talon: { dataDir: '%s', %s },
        }
        """.formatted(id, baseUrl, models, closedPort(), gateway, dir.resolve("data"), talon));
    return file;
  }

  Path config(String id, String baseUrl, String models) throws IOException {
    return config(id, baseUrl, models, "", BOUNDED);
  }

  /** The fake as LM Studio with qwen3-8b loaded, and a config that asks for just that. */
  Path healthy(String gateway, String talon) throws IOException {
    fake.models(List.of(ServedModel.of("qwen3-8b").contextLength(32768))).modelsShape(ServerKind.LM_STUDIO);
    return config("lmstudio", fake.baseUrl(), "{ id: 'qwen3-8b', contextWindow: 32768 }", gateway, talon);
  }

  Path healthy() throws IOException {
    return healthy("", BOUNDED);
  }

  static TalonCliTest.Run doctor(Path config, String... more) {
    String[] args = new String[more.length + 3];
    args[0] = "--config";
    args[1] = config.toString();
    args[2] = "doctor";
    System.arraycopy(more, 0, args, 3, more.length);
    return TalonCliTest.talon(Map.of(), args);
  }

  static List<String> failures(TalonCliTest.Run run) {
    return run.out().lines().filter(line -> line.startsWith("FAIL")).toList();
  }

  /** Exit 1 with exactly one failed check, which reads {@code expected}. */
  static void failsOnly(TalonCliTest.Run run, String expected) {
    assertEquals(1, run.exit(), run.out() + run.err());
    assertEquals(1, failures(run).size(), run.out());
    assertTrue(failures(run).get(0).startsWith(expected), "expected: " + expected + "\n" + run.out());
    assertTrue(run.out().endsWith("1 check(s) failed\n"), run.out());
  }

  @Test
  void aHealthySetupPassesEveryCheck() throws Exception {
    fake.models(List.of(ServedModel.of("qwen3-8b").contextLength(32768), ServedModel.of("gemma-3").contextLength(8192)))
        .loaded("qwen3-8b").modelsShape(ServerKind.LM_STUDIO);
    Path config = config("lmstudio", fake.baseUrl(),
        "{ id: 'qwen3-8b', contextWindow: 32768 }, { id: 'gemma-3', contextWindow: 8192 }", "", BOUNDED);
    TalonCliTest.Run run = doctor(config);
    assertEquals(0, run.exit(), run.out() + run.err());
    Path data = dir.resolve("data").toAbsolutePath();
    int port = Integer.parseInt(Files.readString(config).replaceAll("(?s).*port: (\\d+).*", "$1"));
    for (String line : List.of(
        "ok    config " + config.toAbsolutePath() + ": loaded (4 providers, 12 models)",
        "ok    provider lmstudio (" + fake.baseUrl() + "): reachable, LM Studio (",
        "ok    model lmstudio/qwen3-8b: present, loaded, context 32768\n",
        "ok    model lmstudio/gemma-3: present, not loaded (loads on first request), context 8192\n",
        "skip  provider anthropic (https://api.anthropic.com): skipped: no API key (ANTHROPIC_API_KEY is not set)\n",
        "skip  provider openai (https://api.openai.com/v1): skipped: no API key (OPENAI_API_KEY is not set)\n",
        "ok    data directory " + data + ": does not exist yet; serve creates it\n",
        "ok    journal h2 " + data.resolve("talon.mv.db") + ": not created yet; serve creates it\n",
        "ok    gateway port 127.0.0.1:" + port + ": free\n",
        "ok    gateway auth: loopback only, no token needed\n",
        "ok    cluster 127.0.0.1 (one node): loopback only, no TLS needed\n",
        "all checks passed\n")) {
      assertTrue(run.out().contains(line), "missing: " + line + "\n" + run.out());
    }
    assertFalse(run.out().contains("\u001b"), "no colours in a pipe: " + run.out());
    assertEquals("", run.err(), "no progress lines in a pipe");
    assertFalse(Files.exists(data), "the doctor leaves nothing behind");
  }

  @Test
  void aClosedPortFailsWithTheUrl() throws Exception {
    int port = closedPort();
    String url = "http://127.0.0.1:" + port + "/v1";
    TalonCliTest.Run run = doctor(config("lmstudio", url, "{ id: 'qwen3-8b' }"));
    failsOnly(run, "FAIL  provider lmstudio (" + url + "): LM Studio at 127.0.0.1:" + port
        + " refused the connection — is its server started?");
    assertFalse(run.out().contains("model lmstudio/"), "no model lines for a server not reached: " + run.out());
  }

  @Test
  void aModelTheServerLacksIsNamedWithWhereToCorrectIt() throws Exception {
    fake.models(List.of(ServedModel.of("gemma-3"), ServedModel.of("other-model"))).modelsShape(ServerKind.OPENAI);
    TalonCliTest.Run run =
        doctor(config("lmstudio", fake.baseUrl(), "{ id: 'gemma-3', contextWindow: 32768 }, { id: 'qwen3-8b' }"));
    failsOnly(run, "FAIL  model lmstudio/qwen3-8b: qwen3-8b is not served by LM Studio; it serves: gemma-3, other-model"
        + " — fix: get LM Studio to serve it, or correct models.providers.lmstudio.models[1].id");
    assertTrue(run.out().contains("ok    model lmstudio/gemma-3: present, loaded, context 32768\n"), run.out());
  }

  @Test
  void aWindowLargerThanTheServerReportsFails() throws Exception {
    fake.models(List.of(ServedModel.of("qwen3-8b").contextLength(4096), ServedModel.of("capped").contextLength(4096)))
        .modelsShape(ServerKind.VLLM);
    TalonCliTest.Run run = doctor(config("vllm", fake.baseUrl(),
        "{ id: 'qwen3-8b', contextWindow: 32768 }, { id: 'capped', contextWindow: 32768, contextTokens: 4096 }"));
    failsOnly(run, "FAIL  context vllm/qwen3-8b: contextWindow 32768 is more than the 4096 tokens vLLM reports for it"
        + " — fix: set models.providers.vllm.models[0].contextWindow to 4096 or less");
    // "loaded": the fake answers LM Studio's native list too, which vLLM would not
    assertTrue(run.out().contains("ok    model vllm/capped: present, loaded, context 4096\n"), run.out());
  }

  @Test
  void theDefaultWindowIsCalledSo() throws Exception {
    fake.models(List.of(ServedModel.of("qwen3-8b").contextLength(16384))).modelsShape(ServerKind.LLAMA_CPP);
    TalonCliTest.Run run = doctor(config("llamacpp", fake.baseUrl(), "{ id: 'qwen3-8b' }"));
    failsOnly(run, "FAIL  context llamacpp/qwen3-8b: contextWindow 200000 (the default when none is set) is more"
        + " than the 16384 tokens llama.cpp reports for it");
  }

  @Test
  void anAnthropicProviderIsAskedAnthropicsWay() throws Exception {
    fake.models("claude-local").modelsShape(ServerKind.ANTHROPIC);
    Path config = Files.writeString(dir.resolve("talon.json5"), """
        { models: { providers: { claude: { baseUrl: '%s', api: 'anthropic-messages', apiKey: 'sk-ant-local',
            models: [{ id: 'claude-local' }] } } },
          gateway: { port: %d }, talon: { dataDir: '%s', %s } }
        """.formatted(fake.url(""), closedPort(), dir.resolve("data"), BOUNDED));
    int before = fake.requests().size();
    TalonCliTest.Run run = doctor(config);
    assertEquals(0, run.exit(), run.out());
    assertTrue(run.out().contains("ok    model claude/claude-local: present\n"), run.out());
    Request list = fake.requests().subList(before, fake.requests().size()).stream()
        .filter(r -> r.path().equals("/v1/models")).findFirst().orElseThrow();
    assertEquals("sk-ant-local", list.header("x-api-key"));
    assertTrue(list.header("anthropic-version") != null && list.header("authorization") == null, list.headers()::toString);
  }

  @Test
  void aServerThatNeverAnswersTimesOutAfterTheConfiguredTimeWithAProgressLine() throws Exception {
    try (ServerSocket silent = new ServerSocket(0, 8, InetAddress.getLoopbackAddress())) { // never accepts
      String url = "http://127.0.0.1:" + silent.getLocalPort() + "/v1";
      Path config = config("lmstudio", url, "{ id: 'qwen3-8b' }", "", "upstream: { localFirstTokenTimeoutSeconds: 1 }");
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      ByteArrayOutputStream err = new ByteArrayOutputStream();
      int exit = TalonCli.run(Map.of(), new PrintStream(out, true, StandardCharsets.UTF_8),
          new PrintStream(err, true, StandardCharsets.UTF_8), true, "--config", config.toString(), "doctor");
      String printed = out.toString(StandardCharsets.UTF_8);
      assertEquals(1, exit, printed);
      assertTrue(printed.contains("\u001b[31mFAIL\u001b[0m  provider lmstudio (" + url + "): LM Studio at 127.0.0.1:"
          + silent.getLocalPort() + " did not answer within 1 s"), printed);
      assertTrue(printed.contains("\u001b[32mok\u001b[0m    gateway auth"), printed);
      assertEquals("probing lmstudio at " + url + " …\r\u001b[K", err.toString(StandardCharsets.UTF_8));
    }
  }

  @Test
  void anUnwritableDataDirectoryFails() throws Exception {
    // Under a regular file nothing can be created, not even by root (whom permission bits do not stop).
    Path file = Files.writeString(dir.resolve("afile"), "not a directory");
    Path data = file.resolve("data");
    TalonCliTest.Run run = TalonCliTest.talon(Map.of(), "--config", healthy().toString(), "--data", data.toString(),
        "doctor");
    failsOnly(run, "FAIL  data directory " + data.toAbsolutePath() + ": cannot be created: " + file.toAbsolutePath()
        + " is a file, not a directory — fix: point --data, $TALON_DATA or talon.dataDir at a directory Talon may"
        + " write");
  }

  @Test
  void anH2FileInUseFails() throws Exception {
    Path data = dir.resolve("data");
    Files.createDirectories(data);
    String url = JournalDatabase.defaultH2Url(data);
    try (Connection open = DriverManager.getConnection(url, "sa", "")) {
      TalonCliTest.Run run = doctor(healthy());
      failsOnly(run, "FAIL  journal h2 " + data.toAbsolutePath().resolve("talon.mv.db") + ": in use by this process");
      open.createStatement().execute("SHUTDOWN");
    }
    TalonCliTest.Run run = doctor(healthy());
    assertEquals(0, run.exit(), run.out());
    assertTrue(run.out().contains("ok    data directory " + data.toAbsolutePath() + ": writable\n"), run.out());
    assertTrue(run.out().contains(": writable, not in use\n"), run.out());
  }

  @Test
  void aTakenGatewayPortFails() throws Exception {
    try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      TalonCliTest.Run run = doctor(healthy(), "--port", String.valueOf(taken.getLocalPort()));
      failsOnly(run, "FAIL  gateway port 127.0.0.1:" + taken.getLocalPort() + ": cannot listen: ");
      assertTrue(failures(run).get(0).endsWith(" — fix: stop what listens there (a running Talon?), or choose another"
          + " port: gateway.port, or serve --port"), run.out());
    }
  }

  @Test
  void bindingBeyondLoopbackNeedsAToken() throws Exception {
    Path config = healthy("bind: 'lan'", BOUNDED);
    TalonCliTest.Run run = doctor(config);
    assertEquals(2, run.exit(), run.out());
    assertTrue(run.out().contains("FAIL  config"), run.out());
    assertTrue(run.err().contains("gateway.bind") && run.err().contains("gateway.auth.token"), run.err());
    TalonCliTest.Run withToken = TalonCliTest.talon(Map.of("TALON_GATEWAY_TOKEN", "s3cret-token"),
        "--config", config.toString(), "doctor");
    assertEquals(0, withToken.exit(), withToken.out());
    assertTrue(withToken.out().contains("ok    gateway auth: token set for 0.0.0.0\n"), withToken.out());
  }

  @Test
  void aMissingClusterKeyStoreFails() throws Exception {
    TalonCliTest.Run run = doctor(healthy("", BOUNDED + """
        , cluster: { host: '127.0.0.1', tls: { keyStore: '%s', keyStorePassword: 'changeit', trustStore: '%s',
          trustStorePassword: 'changeit' } }""".formatted(dir.resolve("node.p12"), dir.resolve("node.p12"))));
    assertEquals(1, run.exit(), run.out());
    assertEquals(List.of(
        "FAIL  cluster 127.0.0.1 (one node): TLS key store: " + dir.resolve("node.p12") + " not found"
            + " — fix: check talon.cluster.tls.keyStore, .keyStorePassword and .keyPassword",
        "FAIL  cluster 127.0.0.1 (one node): TLS trust store: " + dir.resolve("node.p12") + " not found"
            + " — fix: check talon.cluster.tls.trustStore and .trustStorePassword"), failures(run));
  }

  @Test
  void anUnreachableDatabaseFails() throws Exception {
    String url = "jdbc:postgresql://127.0.0.1:" + closedPort() + "/talon";
    TalonCliTest.Run run =
        doctor(healthy("", BOUNDED + ", storage: { type: 'postgres', url: '" + url + "', user: 'talon' }"));
    failsOnly(run, "FAIL  journal postgres " + url + " (user \"talon\"): cannot connect to the journal database ");
    assertTrue(failures(run).get(0).endsWith(" — fix: start PostgreSQL, or correct talon.storage.url, .user and"
        + " .password"), run.out());
  }

  @Test
  void aDatabaseWithoutTablesIsFineWhenTheUserMayCreateThem() throws Exception {
    String database = "talon_doctor_" + UUID.randomUUID().toString().replace("-", "");
    try {
      PostgresRuntimeTest.onServer("CREATE DATABASE " + database);
    } catch (SQLException e) {
      Assumptions.abort("no PostgreSQL at " + PostgresRuntimeTest.SERVER + ": " + e.getMessage());
    }
    try {
      String url = PostgresRuntimeTest.databaseUrl(database);
      TalonSettings.Storage storage = new TalonSettings.Storage(TalonSettings.Storage.Type.POSTGRES, url,
          PostgresRuntimeTest.USER, PostgresRuntimeTest.PASSWORD);
      Path config = healthy("", BOUNDED + ", storage: { type: 'postgres', url: '%s', user: '%s', password: '%s' }"
          .formatted(url, storage.user(), storage.password()));
      String subject = "ok    journal postgres " + url + " (user \"" + storage.user() + "\"): reachable, ";
      TalonCliTest.Run before = doctor(config);
      assertEquals(0, before.exit(), before.out());
      assertTrue(before.out().contains(subject + "no journal tables yet: serve creates them in schema public\n"),
          before.out());
      JournalSchema.ensure(JournalDatabase.of(storage, dir));
      TalonCliTest.Run after = doctor(config);
      assertTrue(after.out().contains(subject + "the journal tables are there\n"), after.out());
    } finally {
      PostgresRuntimeTest.onServer("DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
    }
  }

  @Test
  void anInvalidConfigExitsTwo() throws Exception {
    Path config = Files.writeString(dir.resolve("bad.json5"), "{ gateway: { port: 'x' } }");
    TalonCliTest.Run run = doctor(config);
    assertEquals(2, run.exit(), run.out() + run.err());
    assertTrue(run.out().matches("FAIL  config " + config.toAbsolutePath() + ": \\d+ error\\(s\\) — fix: .*\n"),
        run.out());
    assertTrue(run.err().contains("gateway.port"), run.err());
  }

  @Test
  void helpDescribesTheCommand() {
    TalonCliTest.Run run = TalonCliTest.talon(Map.of(), "doctor", "--help");
    assertEquals(0, run.exit(), run.err());
    assertTrue(run.out().contains("Usage: talon doctor"), run.out());
  }
}
