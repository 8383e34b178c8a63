package dev.talon.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

class ConfigLoaderTest {
  private static final Map<String, String> NO_ENV = Map.of();

  static TalonConfig load(String text) {
    return load(text, NO_ENV);
  }

  static TalonConfig load(String text, Map<String, String> env) {
    return ConfigLoader.parse(text, "test.json5", env::get);
  }

  static List<ConfigProblem> errors(String text) {
    return errors(text, NO_ENV);
  }

  static List<ConfigProblem> errors(String text, Map<String, String> env) {
    return assertThrows(ConfigException.class, () -> load(text, env)).errors();
  }

  static ConfigProblem only(List<ConfigProblem> errors) {
    assertEquals(1, errors.size(), () -> "expected one error, got " + errors);
    return errors.get(0);
  }

  static final String LOCAL = """
      {
        models: {
          providers: {
            lmstudio: {
              baseUrl: "http://127.0.0.1:1234/v1",
              apiKey: "lmstudio",
              api: "openai-responses",
              models: [{ id: "qwen3", contextWindow: 32768 }],
            },
          },
        },
      }
      """;

  @Nested
  class Json5Syntax {
    @Test
    void acceptsCommentsUnquotedKeysSingleQuotesAndTrailingCommas() {
      TalonConfig config = load("""
          // line comment
          {
            /* block
               comment */
            models: {
              'mode': 'replace',
              providers: { local: { baseUrl: 'http://127.0.0.1:8000/v1', models: [{ id: 'm', },], }, },
            },
          }
          """);
      assertEquals(ModelCatalog.Mode.REPLACE, config.catalog().mode());
      assertEquals("local/m", config.catalog().defaultAgent().primary().ref());
    }

    @Test
    void readsHexExponentsAndLeadingPlusAsNumbers() {
      TalonConfig config = load("""
          { models: { providers: { p: { baseUrl: "http://127.0.0.1:1/v1", models: [
            { id: "hex", contextWindow: 0x8000, maxTokens: +1e3 },
            { id: "exp", contextWindow: 1.28e5, cost: { input: 1.5e-3, output: .5 } },
          ] } } } }
          """);
      Model hex = config.catalog().resolve("p/hex");
      assertEquals(32768, hex.contextWindow());
      assertEquals(1000, hex.maxTokens());
      Model exp = config.catalog().resolve("p/exp");
      assertEquals(128000, exp.contextWindow());
      assertEquals(0.0015, exp.cost().input(), 1e-12);
      assertEquals(0.5, exp.cost().output(), 1e-12);
    }

    @Test
    void reportsSyntaxErrorsWithLineAndColumn() {
      ConfigProblem error = only(errors("{\n  models: {\n    mode: tru\n  }\n}"));
      assertEquals(3, error.line());
      assertEquals(11, error.column());
      assertTrue(error.message().contains("invalid value 'tru'"), error.message());
      assertTrue(error.toString().startsWith("test.json5:3:11: error:"), error.toString());
    }

    @Test
    void reportsDuplicateKeysWhereTheyRepeat() {
      ConfigProblem error = only(errors("{\n  gateway: { port: 1 },\n  gateway: { port: 2 },\n}"));
      assertEquals(3, error.line());
      assertEquals(3, error.column());
      assertTrue(error.message().contains("duplicate key \"gateway\""), error.message());
    }

    @Test
    void reportsUnterminatedStringsAndEmptyArrayElements() {
      assertTrue(only(errors("{ a: 'x\n}")).message().contains("line break inside a string"));
      ConfigProblem hole = only(errors("{ a: [1,,2] }"));
      assertEquals(1, hole.line());
      assertEquals(9, hole.column());
    }
  }

  @Nested
  class Validation {
    @Test
    void namesThePathLineAndColumnOfAWrongType() {
      ConfigProblem error = only(errors(LOCAL.replace("contextWindow: 32768", "contextWindow: \"big\"")));
      assertEquals("models.providers.lmstudio.models[0].contextWindow", error.path());
      assertEquals(8, error.line());
      assertEquals(48, error.column());
      assertTrue(error.message().contains("expected a positive whole number, got the string \"big\""), error.message());
    }

    @Test
    void listsTheSupportedApisForAnUnknownOne() {
      ConfigProblem error = only(errors(LOCAL.replace("openai-responses", "openai-chat")));
      assertEquals("models.providers.lmstudio.api", error.path());
      assertTrue(error.message().contains("\"openai-responses\", \"openai-completions\", \"anthropic-messages\""),
          error.message());
    }

    @Test
    void reportsEveryErrorOfTheFileTogether() {
      List<ConfigProblem> errors = errors("""
          {
            models: { mode: "mix", providers: {
              a: { models: [{ id: "x", maxTokens: -1 }] },
              b: { baseUrl: "ftp://host", models: [{ name: "no id" }] },
            } },
            gateway: { port: 70000 },
            talon: { storage: { type: "postgres" } },
          }
          """);
      List<String> paths = errors.stream().map(ConfigProblem::path).toList();
      assertEquals(List.of("models.mode", "models.providers.a.baseUrl", "models.providers.a.models[0].maxTokens",
          "models.providers.b.baseUrl", "models.providers.b.models[0].id", "gateway.port", "talon.storage.url"), paths);
      assertTrue(errors.stream().allMatch(e -> e.line() > 0), errors.toString());
    }

    @Test
    void refusesAnH2UrlThatDelaysOrReusesWrites() {
      List<ConfigProblem> errors = errors("""
          { models: { providers: { p: { baseUrl: 'http://127.0.0.1:1/v1', models: [{ id: 'a' }] } } },
            talon: { storage: { url: 'jdbc:h2:file:/tmp/t;WRITE_DELAY=500;reuse_space=true' } } }
          """);
      assertEquals(List.of("talon.storage.url", "talon.storage.url"), errors.stream().map(ConfigProblem::path).toList());
      assertEquals(List.of(2, 2), errors.stream().map(ConfigProblem::line).toList());
      assertTrue(errors.get(0).message().startsWith("WRITE_DELAY must be 0 (or left out), not 500"), errors.toString());
      assertTrue(errors.get(1).message().startsWith("REUSE_SPACE must be FALSE (or left out), not true"),
          errors.toString());
    }

    @Test
    void requiresTheModelsOfAConfiguredProvider() {
      ConfigProblem error = only(errors("{ models: { providers: { p: { baseUrl: 'http://127.0.0.1:1/v1' } } } }"));
      assertEquals("models.providers.p.models", error.path());
    }

    @Test
    void rejectsAContextCapAboveTheWindow() {
      ConfigProblem error = only(errors(LOCAL.replace("contextWindow: 32768", "contextWindow: 32768, contextTokens: 40000")));
      assertEquals("models.providers.lmstudio.models[0].contextTokens", error.path());
    }

    @Test
    void thinkTagsMustBeTrueOrFalse() {
      ConfigProblem error = only(errors(LOCAL.replace("contextWindow: 32768", "contextWindow: 32768, compat: { thinkTags: 'no' }")));
      assertEquals("models.providers.lmstudio.models[0].compat.thinkTags", error.path());
      assertEquals(8, error.line());
      assertTrue(error.message().contains("expected true or false"), error.message());
      assertFalse(load(LOCAL.replace("contextWindow: 32768", "compat: { thinkTags: false }")).catalog()
          .resolve("lmstudio/qwen3").thinkTags());
    }

    @Test
    void appliesOpenClawDefaults() {
      Model m = load("{ models: { providers: { p: { baseUrl: 'http://127.0.0.1:1/v1', models: [{ id: 'm' }] } } } }")
          .catalog().resolve("p/m");
      assertEquals(Api.OPENAI_COMPLETIONS, m.api());
      assertEquals("m", m.name());
      assertFalse(m.reasoning());
      assertEquals(List.of("text"), m.input());
      assertEquals(Model.Cost.FREE, m.cost());
      assertEquals(200_000, m.contextWindow());
      assertEquals(200_000, m.contextBudget());
      assertEquals(8192, m.maxTokens());
      assertNull(m.contextTokens());
      assertTrue(m.thinkTags());
    }

    @Test
    void readsEveryModelField() {
      Model m = load("""
          { models: { providers: { p: {
            baseUrl: "http://127.0.0.1:1/v1/", api: "openai-responses", timeoutSeconds: 30, headers: { "X-A": "1" },
            models: [{ id: "m", name: "M", api: "openai-completions", reasoning: true, input: ["text", "image"],
                       cost: { input: 1, output: 2, cacheRead: 0.1, cacheWrite: 1.25 }, contextWindow: 65536,
                       contextTokens: 60000, maxTokens: 4096, headers: { "X-B": "2" }, params: { top_k: 20 },
                       compat: { supportsUsageInStreaming: false, someFutureFlag: "kept" } }],
          } } } }
          """).catalog().resolve("p/m");
      assertEquals(Api.OPENAI_COMPLETIONS, m.api());
      assertEquals(Api.OPENAI_RESPONSES, m.provider().api());
      assertEquals("http://127.0.0.1:1/v1", m.provider().baseUrl().toString());
      assertEquals(30, m.provider().timeout().toSeconds());
      assertEquals(Map.of("X-A", "1"), m.provider().headers());
      assertEquals(new Model.Cost(1, 2, 0.1, 1.25), m.cost());
      assertEquals(60000, m.contextBudget());
      assertEquals(Map.of("X-B", "2"), m.headers());
      assertEquals(20, m.params().get("top_k").asInt());
      assertFalse(m.compatFlag("supportsUsageInStreaming", true));
      assertEquals("kept", m.compat().get("someFutureFlag").asText());
      assertTrue(m.reasoning());
    }
  }

  @Nested
  class Substitution {
    @Test
    void substitutesVariablesAndKeepsEscapedOnes() {
      Provider p = load(LOCAL.replace("\"lmstudio\",", "\"${LM_KEY}\", headers: { 'X-T': 'a-${LM_KEY}-$${LM_KEY}' },"),
          Map.of("LM_KEY", "secret")).catalog().provider("lmstudio").orElseThrow();
      assertEquals(Optional.of("secret"), p.apiKey());
      assertEquals("a-secret-${LM_KEY}", p.headers().get("X-T"));
    }

    @Test
    void aMissingVariableNamesItAndItsPath() {
      ConfigProblem error = only(errors(LOCAL.replace("\"lmstudio\",", "\"${LM_KEY}\",")));
      assertEquals("models.providers.lmstudio.apiKey", error.path());
      assertTrue(error.message().contains("LM_KEY is not set"), error.message());
    }

    @Test
    void aMissingVariableInABuiltInProvidersKeyOnlyMakesItUnavailable() {
      TalonConfig config = load("{ models: { providers: { anthropic: { apiKey: '${MY_ANTHROPIC}' } } },"
          + " agents: { defaults: { model: 'anthropic/claude-opus-4-5' } } }");
      Provider anthropic = config.catalog().provider("anthropic").orElseThrow();
      assertFalse(anthropic.available());
      assertEquals("MY_ANTHROPIC is not set", anthropic.unavailableReason());
    }

    @Test
    void builtInKeysComeFromTheEnvironment() {
      TalonConfig config = load(LOCAL, Map.of("ANTHROPIC_API_KEY", "sk-ant"));
      Provider anthropic = config.catalog().provider("anthropic").orElseThrow();
      assertTrue(anthropic.available());
      assertEquals(Optional.of("sk-ant"), anthropic.apiKey());
      assertEquals("OPENAI_API_KEY is not set", config.catalog().provider("openai").orElseThrow().unavailableReason());
    }
  }

  @Nested
  class Keys {
    @Test
    void aLocalMarkerKeyIsKeptAndAMissingKeyMeansNoKey() {
      TalonConfig config = load("""
          { models: { providers: {
            lm: { baseUrl: "http://127.0.0.1:1234/v1", apiKey: "lmstudio", models: [{ id: "a" }] },
            ol: { baseUrl: "http://192.168.1.20:11434/v1", models: [{ id: "b" }] },
          } } }
          """);
      Provider lm = config.catalog().provider("lm").orElseThrow();
      Provider ol = config.catalog().provider("ol").orElseThrow();
      assertEquals(Optional.of("lmstudio"), lm.apiKey());
      assertTrue(lm.isLocal());
      assertEquals(Optional.empty(), ol.apiKey());
      assertTrue(ol.isLocal());
      assertFalse(config.catalog().provider("openai").orElseThrow().isLocal());
    }
  }

  @Nested
  class MergeAndReplace {
    @Test
    void mergeKeepsTheBuiltInHostedProviders() {
      ModelCatalog catalog = load(LOCAL).catalog();
      Model opus = catalog.resolve("anthropic/claude-opus-4-5");
      assertEquals(Api.ANTHROPIC_MESSAGES, opus.api());
      assertEquals(200_000, opus.contextWindow());
      assertEquals(64_000, opus.maxTokens());
      assertEquals(5.0, opus.cost().input());
      assertEquals(25.0, opus.cost().output());
      assertEquals(Provider.Origin.BUILT_IN, opus.origin());
      Model sonnet = catalog.resolve("anthropic/claude-sonnet-4-5");
      assertEquals(3.0, sonnet.cost().input());
      assertEquals(15.0, sonnet.cost().output());
      assertTrue(catalog.provider("openai").isPresent());
      assertTrue(catalog.provider("openrouter").isPresent());
    }

    @Test
    void replaceUsesOnlyTheConfiguredProviders() {
      ModelCatalog catalog = load(LOCAL.replace("providers: {", "mode: 'replace', providers: {")).catalog();
      assertTrue(catalog.provider("anthropic").isEmpty());
      assertEquals(List.of("lmstudio/qwen3"), catalog.models().stream().map(Model::ref).toList());
      assertThrows(UnknownModelException.class, () -> catalog.resolve("anthropic/claude-opus-4-5"));
    }

    @Test
    void aConfiguredProviderOverridesTheBuiltInOfTheSameId() {
      ModelCatalog catalog = load("""
          { models: { providers: { anthropic: {
            baseUrl: "http://127.0.0.1:9999", apiKey: "k",
            models: [{ id: "claude-opus-4-5", contextWindow: 100000, maxTokens: 1000 }, { id: "claude-next" }],
          } } } }
          """).catalog();
      Model opus = catalog.resolve("anthropic/claude-opus-4-5");
      assertEquals(100_000, opus.contextWindow());
      assertEquals(Provider.Origin.CONFIG, opus.origin());
      assertEquals("http://127.0.0.1:9999", opus.provider().baseUrl().toString());
      assertEquals(Api.ANTHROPIC_MESSAGES, opus.api());
      Model sonnet = catalog.resolve("anthropic/claude-sonnet-4-5");
      assertEquals(Provider.Origin.BUILT_IN, sonnet.origin());
      assertEquals("http://127.0.0.1:9999", sonnet.provider().baseUrl().toString());
      assertEquals("anthropic/claude-next", catalog.resolve("claude-next").ref());
    }
  }

  @Nested
  class References {
    static final String TWO = """
        { models: { providers: {
            lmstudio: { baseUrl: "http://127.0.0.1:1234/v1", models: [{ id: "qwen3" }, { id: "qwen/qwen3-coder" }] },
            vllm: { baseUrl: "http://127.0.0.1:8000/v1", models: [{ id: "qwen3" }, { id: "Llama-3" }] },
          } },
          agents: { defaults: {
            model: { primary: "LMStudio/qwen3", fallbacks: ["Coder", "openrouter/moonshotai/kimi-k2", "lmstudio/qwen3"] },
            models: { "lmstudio/qwen/qwen3-coder": { alias: "Coder" } },
          } } }
        """;

    @Test
    void splitsRefsAtTheFirstSlashAndMatchesProvidersCaseInsensitively() {
      ModelCatalog catalog = load(TWO).catalog();
      assertEquals("lmstudio/qwen/qwen3-coder", catalog.resolve("LMSTUDIO/qwen/qwen3-coder").ref());
      Model kimi = catalog.resolve("openrouter/moonshotai/kimi-k2");
      assertEquals("openrouter", kimi.provider().id());
      assertEquals("moonshotai/kimi-k2", kimi.id());
    }

    @Test
    void resolvesAliasesCaseInsensitivelyAndBareUniqueIds() {
      ModelCatalog catalog = load(TWO).catalog();
      assertEquals("lmstudio/qwen/qwen3-coder", catalog.resolve("coder").ref());
      assertEquals(Optional.of("Coder"), catalog.aliasOf(catalog.resolve("Coder")));
      assertEquals("vllm/Llama-3", catalog.resolve("Llama-3").ref());
      assertEquals("vllm/Llama-3", catalog.resolve("llama-3").ref());
      assertEquals("lmstudio/qwen/qwen3-coder", catalog.resolve("qwen/qwen3-coder").ref());
    }

    @Test
    void anAmbiguousBareNameListsTheCandidates() {
      ModelCatalog catalog = load(TWO).catalog();
      UnknownModelException e = assertThrows(UnknownModelException.class, () -> catalog.resolve("qwen3"));
      assertTrue(e.getMessage().contains("lmstudio/qwen3, vllm/qwen3"), e.getMessage());
    }

    @Test
    void unknownNamesSayWhatExists() {
      ModelCatalog catalog = load(TWO).catalog();
      assertTrue(assertThrows(UnknownModelException.class, () -> catalog.resolve("vllm/nope")).getMessage()
          .contains("it has vllm/qwen3, vllm/Llama-3"));
      assertTrue(assertThrows(UnknownModelException.class, () -> catalog.resolve("nope/x")).getMessage()
          .contains("unknown provider \"nope\""));
    }

    @Test
    void resolvesTheCandidateChainOnceDeduplicated() {
      Agent agent = load(TWO).catalog().defaultAgent();
      assertEquals(List.of("lmstudio/qwen3", "lmstudio/qwen/qwen3-coder", "openrouter/moonshotai/kimi-k2"),
          agent.candidates().stream().map(Model::ref).toList());
      Model requested = load(TWO).catalog().resolve("vllm/qwen3");
      assertEquals(List.of("vllm/qwen3", "lmstudio/qwen/qwen3-coder", "openrouter/moonshotai/kimi-k2", "lmstudio/qwen3"),
          agent.candidates(requested).stream().map(Model::ref).toList());
    }

    @Test
    void aBadRefInTheAgentIsAnErrorAtItsPath() {
      List<ConfigProblem> errors = errors(TWO.replace("\"Coder\",", "\"qwen3\",").replace("LMStudio/qwen3", "lmstudio/nope"));
      assertEquals(List.of("agents.defaults.model.primary", "agents.defaults.model.fallbacks[0]"),
          errors.stream().map(ConfigProblem::path).toList());
      assertTrue(errors.get(1).message().contains("ambiguous"), errors.get(1).message());
    }

    @Test
    void aDuplicateAliasIsAnError() {
      ConfigProblem error = only(errors(TWO.replace("{ alias: \"Coder\" }",
          "{ alias: \"Coder\" }, \"vllm/qwen3\": { alias: \"coder\" }")));
      assertEquals("agents.defaults.models[\"vllm/qwen3\"].alias", error.path());
    }
  }

  @Nested
  class Agents {
    @Test
    void acceptsTheStringFormOfTheModel() {
      Agent agent = load(LOCAL.replace("models: {\n", "agents: { defaults: { model: 'lmstudio/qwen3' } },\n  models: {\n"))
          .catalog().defaultAgent();
      assertEquals("main", agent.id());
      assertEquals(List.of("lmstudio/qwen3"), agent.candidates().stream().map(Model::ref).toList());
    }

    @Test
    void listedAgentsInheritTheDefaults() {
      ModelCatalog catalog = load(References.TWO.replace("agents: {", """
          agents: { list: [
              { id: "coder", model: "vllm/qwen3" },
              { id: "chat", default: true },
              { id: "solo", model: { primary: "vllm/Llama-3", fallbacks: [] } },
            ],
          """)).catalog();
      assertEquals("chat", catalog.defaultAgent().id());
      assertEquals(List.of("vllm/qwen3", "lmstudio/qwen/qwen3-coder", "openrouter/moonshotai/kimi-k2", "lmstudio/qwen3"),
          catalog.agent("coder").orElseThrow().candidates().stream().map(Model::ref).toList());
      assertEquals("lmstudio/qwen3", catalog.agent("chat").orElseThrow().primary().ref());
      assertEquals(List.of("vllm/Llama-3"),
          catalog.agent("solo").orElseThrow().candidates().stream().map(Model::ref).toList());
    }

    @Test
    void withoutAnAgentModelTheFirstConfiguredModelIsThePrimary() {
      assertEquals("lmstudio/qwen3", load(LOCAL).catalog().defaultAgent().primary().ref());
    }

    @Test
    void aConfigWithNothingToRunIsAnError() {
      assertEquals("agents.defaults.model", only(errors("{}")).path());
    }

    @Test
    void readsTheCompactionSettingsAndResolvesTheSummariserByAlias() {
      TalonConfig config = load(LOCAL.replace("models: {\n", """
          agents: { defaults: {
            models: { "lmstudio/qwen3": { alias: "q" } },
            compaction: { enabled: false, reserveTokens: 0, keepRecentTokens: 4000, model: "q",
                          maxSummaryChars: 8000, mode: "safeguard" } } },
            models: {
          """));
      CompactionSettings compaction = config.catalog().defaultAgent().compaction();
      assertEquals(new CompactionSettings(false, 0, 4000, config.catalog().resolve("lmstudio/qwen3"), 8000), compaction);
      assertTrue(config.notices().stream().anyMatch(n -> n.path().equals("agents.defaults.compaction.mode")),
          "OpenClaw's own compaction keys are noticed, not refused");
      assertEquals(CompactionSettings.DEFAULTS, load(LOCAL).catalog().defaultAgent().compaction());
    }

    @Test
    void anUnknownCompactionModelIsAnErrorAtItsPath() {
      assertEquals("agents.defaults.compaction.model", only(errors(LOCAL.replace("models: {\n",
          "agents: { defaults: { compaction: { model: 'nope/none' } } },\n  models: {\n"))).path());
    }
  }

  @Nested
  class TalonsOwnKeys {
    @Test
    void readsGatewayAndTalonSettings() {
      TalonConfig config = load(LOCAL.replace("models: {\n", """
          gateway: { port: 9000, bind: "lan", auth: { token: "${TOKEN}" }, drainSeconds: 5 },
            talon: { dataDir: "/var/talon", storage: { type: "postgres", url: "jdbc:postgresql://127.0.0.1:5432/talon",
                     user: "postgres" }, cluster: { port: 2552, seedNodes: ["pekko://talon@10.0.0.1:2552"] } },
            models: {
          """), Map.of("TOKEN", "t0k"));
      GatewaySettings.Limits defaults = GatewaySettings.Limits.DEFAULTS;
      assertEquals(new GatewaySettings(9000, "0.0.0.0", Optional.of("t0k"), false, GatewaySettings.DEFAULT_KEEP_ALIVE,
          GatewaySettings.Browsers.NONE, new GatewaySettings.Limits(defaults.maxBodyBytes(),
              defaults.maxConcurrentTurns(), defaults.backlog(), defaults.askTimeout(), defaults.bodyReadTimeout(),
              java.time.Duration.ofSeconds(5)), Optional.empty(), false), config.gateway());
      assertEquals("/var/talon", config.talon().dataDir());
      assertEquals(TalonSettings.Storage.Type.POSTGRES, config.talon().storage().type());
      assertEquals("postgres", config.talon().storage().user());
      assertEquals(2552, config.talon().cluster().port());
      assertEquals(List.of("pekko://talon@10.0.0.1:2552"), config.talon().cluster().seedNodes());
    }

    @Test
    void readsTheClusterWithItsSeedsTlsAndDeadlines() {
      TalonSettings.Cluster cluster = load(LOCAL.replace("models: {\n", """
          talon: { storage: { type: "postgres", url: "jdbc:postgresql://127.0.0.1:5432/talon" },
                   cluster: { host: "10.0.0.2", port: 25520, seedNodes: ["10.0.0.1:25520", "pekko://talon@10.0.0.2:25520"],
                              tls: { keyStore: "/etc/talon/node.p12", keyStorePassword: "${PW}",
                                     trustStore: "/etc/talon/trust.p12", trustStorePassword: "${PW}" },
                              downAfterSeconds: 7, drainSeconds: 12 } },
            models: {
          """), Map.of("PW", "pw")).talon().cluster();
      assertEquals(List.of("pekko://talon@10.0.0.1:25520", "pekko://talon@10.0.0.2:25520"), cluster.seedNodes());
      assertEquals(new TalonSettings.Tls("/etc/talon/node.p12", "pw", "pw", "/etc/talon/trust.p12", "pw"),
          cluster.tls().orElseThrow());
      assertFalse(cluster.tls().orElseThrow().toString().contains("pw,"), "passwords are masked");
      assertEquals(java.time.Duration.ofSeconds(7), cluster.downAfter());
      assertEquals(TalonSettings.Cluster.SINGLE_NODE, load(LOCAL).talon().cluster());
      assertEquals(java.time.Duration.ofSeconds(12), load(LOCAL.replace("models: {\n",
          "talon: { cluster: { drainSeconds: 12 } },\n  models: {\n")).gateway().limits().drain());
    }

    @Test
    void aClusterOfSeveralNodesOnTheFileDatabaseIsRefusedWithWhy() {
      ConfigProblem problem = only(errors(LOCAL.replace("models: {\n",
          "talon: { cluster: { seedNodes: [\"127.0.0.1:25520\"] } },\n  models: {\n")));
      assertEquals("talon.cluster.seedNodes", problem.path());
      assertTrue(problem.message().contains("postgres"), problem.message());
    }

    @Test
    void aClusterBeyondLoopbackNeedsTls() {
      ConfigProblem problem = only(errors(LOCAL.replace("models: {\n",
          "talon: { cluster: { host: \"10.0.0.2\" } },\n  models: {\n")));
      assertEquals("talon.cluster.host", problem.path());
      assertTrue(problem.message().contains("talon.cluster.tls"), problem.message());
    }

    @Test
    void badSeedsTlsWithoutItsStoresAndTwoDifferentDrainsAreErrorsAtTheirPaths() {
      List<ConfigProblem> problems = errors(LOCAL.replace("models: {\n", """
          gateway: { drainSeconds: 5 },
            talon: { storage: { type: "postgres", url: "jdbc:postgresql://127.0.0.1:5432/talon" },
                   cluster: { seedNodes: ["10.0.0.1"], tls: { keyStore: "k.p12" }, drainSeconds: 6 } },
            models: {
          """));
      assertEquals(List.of("talon.cluster.drainSeconds", "talon.cluster.seedNodes[0]",
          "talon.cluster.tls.keyStorePassword", "talon.cluster.tls.trustStore", "talon.cluster.tls.trustStorePassword"),
          problems.stream().map(ConfigProblem::path).sorted().toList());
    }

    @Test
    void readsUpstreamTimeoutsAndTheProviderOverride() {
      TalonConfig config = load("""
          { talon: { upstream: { localFirstTokenTimeoutSeconds: 600, idleTimeoutSeconds: 15 } },
            models: { providers: {
              lm: { baseUrl: "http://127.0.0.1:1234/v1", models: [{ id: "a" }] },
              slow: { baseUrl: "http://10.0.0.5:8000/v1", timeoutSeconds: 900, models: [{ id: "b" }] },
            } } }
          """);
      TalonSettings.Upstream upstream = config.talon().upstream();
      assertEquals(600, upstream.firstToken(config.catalog().provider("lm").orElseThrow()).toSeconds());
      assertEquals(900, upstream.firstToken(config.catalog().provider("slow").orElseThrow()).toSeconds());
      assertEquals(120, upstream.firstToken(config.catalog().provider("openai").orElseThrow()).toSeconds());
      assertEquals(15, upstream.idle().toSeconds());
      assertEquals(TalonSettings.Upstream.DEFAULTS, load(LOCAL).talon().upstream());
    }

    @Test
    void readsFailoverAndConversationSettings() {
      TalonSettings talon = load(LOCAL.replace("models: {\n", """
          talon: { failover: { retries: 0, backoffInitialMs: 50, backoffMaxMs: 500, retryAfterCapSeconds: 5,
                               cooldownSeconds: [1, 2], overflowRetries: 1, midStream: "restart" },
                   conversations: { snapshotEvery: 10, passivateAfterSeconds: 30, maxResident: 50, journalBackoffInitialMs: 100,
                                    journalBackoffMaxMs: 2000 } },
            models: {
          """)).talon();
      assertEquals(new TalonSettings.Failover(0, java.time.Duration.ofMillis(50), java.time.Duration.ofMillis(500),
          java.time.Duration.ofSeconds(5), List.of(java.time.Duration.ofSeconds(1), java.time.Duration.ofSeconds(2)), 1,
          TalonSettings.MidStream.RESTART), talon.failover());
      assertEquals(new TalonSettings.Conversations(10, java.time.Duration.ofSeconds(30), 50, java.time.Duration.ofMillis(100),
          java.time.Duration.ofSeconds(2)), talon.conversations());
      assertEquals(TalonSettings.Failover.DEFAULTS, load(LOCAL).talon().failover());
    }

    @Test
    void readsTheWarmupAndRefusesANegativeOne() {
      TalonSettings talon = load(LOCAL.replace("models: {\n", """
          talon: { warmup: { turns: 0, concurrency: 3, quietSeconds: 0 } },
            models: {
          """)).talon();
      assertEquals(new TalonSettings.Warmup(0, 3, Duration.ZERO), talon.warmup());
      assertEquals(TalonSettings.Warmup.DEFAULTS, load(LOCAL).talon().warmup());
      List<ConfigProblem> errors = errors(LOCAL.replace("models: {\n", """
          talon: { warmup: { turns: -1, concurrency: 0, quietSeconds: -1 } },
            models: {
          """));
      assertEquals(List.of("talon.warmup.turns", "talon.warmup.concurrency", "talon.warmup.quietSeconds"),
          errors.stream().map(ConfigProblem::path).toList(), errors::toString);
    }

    @Test
    void readsTheGatewaysBrowserRulesLimitsAndResponseIdSecret() {
      GatewaySettings gateway = load(LOCAL.replace("models: {\n", """
          gateway: { allowedHosts: ["talon.lan"], allowedOrigins: ["http://localhost:3000"], maxBodyMegabytes: 2,
                     maxConcurrentTurns: 8, backlog: 4096, askTimeoutSeconds: 30, bodyReadTimeoutSeconds: 5,
                     responseIdSecret: "${SECRET}" },
            models: {
          """), Map.of("SECRET", "s".repeat(32))).gateway();
      assertEquals(new GatewaySettings.Browsers(List.of("talon.lan"), List.of("http://localhost:3000")),
          gateway.browsers());
      assertEquals(new GatewaySettings.Limits(2L * 1024 * 1024, 8, 4096, java.time.Duration.ofSeconds(30),
          java.time.Duration.ofSeconds(5), GatewaySettings.Limits.DEFAULTS.drain()), gateway.limits());
      assertEquals(Optional.of("s".repeat(32)), gateway.responseIdSecret());
    }

    @Test
    void refusesAnOriginWithAPathAndAShortResponseIdSecretNamingPathAndLine() {
      List<ConfigProblem> errors = errors(LOCAL.replace("models: {\n", """
          gateway: { allowedOrigins: ["http://localhost:3000/app"],
                     responseIdSecret: "short", maxConcurrentTurns: 0 },
            models: {
          """));
      assertEquals(3, errors.size(), errors::toString);
      assertTrue(errors.stream().anyMatch(e -> e.path().equals("gateway.allowedOrigins[0]") && e.line() == 2
          && e.message().contains("no path")), errors::toString);
      assertTrue(errors.stream().anyMatch(e -> e.path().equals("gateway.responseIdSecret") && e.line() == 3),
          errors::toString);
      assertTrue(errors.stream().anyMatch(e -> e.path().equals("gateway.maxConcurrentTurns")), errors::toString);
    }

    @Test
    void metricsArePrivateUnlessMadePublic() {
      assertFalse(load(LOCAL).gateway().publicMetrics());
      assertTrue(load(LOCAL.replace("models: {\n", "gateway: { metrics: { public: true } },\n  models: {\n"))
          .gateway().publicMetrics());
      ConfigProblem wrongType = only(errors(LOCAL.replace("models: {\n", """
          gateway: { metrics: {
            public: "yes" } },
            models: {
          """)));
      assertEquals("gateway.metrics.public", wrongType.path());
      assertEquals(3, wrongType.line());
      assertTrue(wrongType.message().contains("expected true or false, got the string \"yes\""), wrongType.message());
      ConfigProblem notAnObject = only(errors(LOCAL.replace("models: {\n",
          "gateway: { metrics: true },\n  models: {\n")));
      assertEquals("gateway.metrics", notAnObject.path());
    }

    @Test
    void listeningBeyondLoopbackWithoutATokenIsAnErrorAtTheBind() {
      ConfigProblem error = only(errors(LOCAL.replace("models: {\n", """
          gateway: {
            bind: "lan" },
            models: {
          """)));
      assertEquals("gateway.bind", error.path());
      assertEquals(3, error.line());
      assertTrue(error.message().contains("set gateway.auth.token"), error.message());
      assertEquals("192.168.1.5", load(LOCAL.replace("models: {\n", "gateway: { bind: '192.168.1.5' },\n  models: {\n"),
          Map.of("TALON_GATEWAY_TOKEN", "env-token")).gateway().bind(), "a token from the environment will do");
      assertEquals("gateway.bind", only(errors(LOCAL.replace("models: {\n",
          "gateway: { bind: '192.168.1.5', auth: { token: '' } },\n  models: {\n"))).path(), "a blank token is none");
    }

    @Test
    void secretsNeverShowInTheSettingsPrintedForm() {
      TalonConfig config = load("""
          { gateway: { auth: { token: "gw-token-secret-1" }, responseIdSecret: "id-secret-0123456789abcdef0123456789" },
            talon: { storage: { type: "postgres", url: "jdbc:postgresql://127.0.0.1:5432/t", user: "u",
                                password: "pg-password-secret-2" } },
            models: { mode: "replace", providers: {
              p: { baseUrl: "http://127.0.0.1:1/v1", apiKey: "sk-api-key-secret-3", headers: { "x-api-key": "hdr-secret-4" },
                   models: [{ id: "m", headers: { "x-model-key": "model-hdr-secret-5" } }] } } } }
          """);
      String printed = String.join("\n", config.toString(), config.gateway().toString(), config.talon().toString(),
          config.catalog().models().toString(), config.catalog().provider("p").orElseThrow().toString());
      for (String secret : List.of("gw-token-secret-1", "id-secret-0123456789", "pg-password-secret-2",
          "sk-api-key-secret-3", "hdr-secret-4", "model-hdr-secret-5")) {
        assertFalse(printed.contains(secret), () -> secret + " printed in " + printed);
      }
      assertTrue(printed.contains("x-api-key") && printed.contains("x-model-key"), "header names stay readable");
      assertEquals(List.of("sk-api-key-secret-3", "hdr-secret-4", "model-hdr-secret-5"),
          config.catalog().models().iterator().next().secrets());
    }

    @Test
    void readsRetentionSettings() {
      TalonSettings talon = load(LOCAL.replace("models: {\n", """
          talon: { retention: { anonymousDays: 7, sweepIntervalSeconds: 60 } },
            models: {
          """)).talon();
      assertEquals(new TalonSettings.Retention(java.time.Duration.ofDays(7), java.time.Duration.ofSeconds(60)),
          talon.retention());
      assertEquals(TalonSettings.Retention.DEFAULTS, load(LOCAL).talon().retention());
      ConfigException e = assertThrows(ConfigException.class, () -> load(LOCAL.replace("models: {\n",
          "talon: { retention: { anonymousDays: 0 } },\n  models: {\n")));
      assertTrue(e.getMessage().contains("talon.retention.anonymousDays"), e.getMessage());
    }

    @Test
    void anUnknownMidStreamModeIsAnErrorAtItsLine() {
      ConfigProblem error = only(errors(LOCAL.replace("models: {\n", """
          talon: { failover: {
            midStream: "resume" } },
            models: {
          """)));
      assertEquals("talon.failover.midStream", error.path());
      assertEquals(3, error.line());
      assertTrue(error.message().contains("\"continue\" or \"restart\""), error.message());
    }

    @Test
    void defaultsToLoopbackOnTheOpenClawPortWithTheEmbeddedStore() {
      TalonConfig config = load(LOCAL);
      assertEquals(GatewaySettings.loopback(18789, null), config.gateway());
      assertNull(config.talon().dataDir());
      assertEquals(TalonSettings.Storage.Type.H2, config.talon().storage().type());
      assertEquals(Optional.of("env-token"),
          load(LOCAL, Map.of("TALON_GATEWAY_TOKEN", "env-token")).gateway().authToken());
    }

    @Test
    void keepsUnusedOpenClawKeysAsNotices() {
      TalonConfig config = load(LOCAL.replace("models: {\n", "channels: { telegram: {} }, tools: {}, modles: 1,\n  models: {\n"));
      List<String> notices = config.notices().stream().map(ConfigProblem::toString).toList();
      assertEquals(3, notices.size(), notices.toString());
      assertTrue(notices.get(0).contains("channels: OpenClaw setting that Talon does not use yet"), notices.get(0));
      assertTrue(notices.get(2).contains("modles: unknown key (not an OpenClaw or Talon setting)"), notices.get(2));
    }
  }

  @Nested
  class McpServersAndAgentTools {
    /** {@code LOCAL} with {@code talon} and {@code agents} keys before its models. */
    String with(String talon, String agents) {
      return LOCAL.replace("models: {\n", "talon: " + talon + ",\n  agents: " + agents + ",\n  models: {\n");
    }

    static final String SERVERS = """
        { mcp: { servers: {
            fs: { command: "npx", args: ["-y", "@modelcontextprotocol/server-filesystem", "/srv/notes"],
                  env: { NODE_OPTIONS: "--max-old-space-size=64" }, cwd: "/srv" },
            web: { url: "http://127.0.0.1:8931/mcp/", headers: { Authorization: "Bearer web-token-secret" },
                   callTimeoutSeconds: 5 },
        } } }""";

    @Test
    void readsStdioAndHttpServersWithTheirDefaults() {
      McpSettings mcp = load(with(SERVERS, "{}")).talon().mcp();
      assertEquals(List.of("fs", "web"), List.copyOf(mcp.ids()));
      McpSettings.Server fs = mcp.servers().get("fs");
      assertEquals(new McpSettings.Stdio("npx", List.of("-y", "@modelcontextprotocol/server-filesystem", "/srv/notes"),
          Map.of("NODE_OPTIONS", "--max-old-space-size=64"), Optional.of("/srv")), fs.transport());
      assertEquals(java.time.Duration.ofSeconds(60), fs.callTimeout());
      McpSettings.Server web = mcp.servers().get("web");
      assertEquals(new McpSettings.Http(java.net.URI.create("http://127.0.0.1:8931/mcp"),
          Map.of("Authorization", "Bearer web-token-secret")), web.transport());
      assertEquals(java.time.Duration.ofSeconds(5), web.callTimeout());
      assertEquals("stdio: npx -y @modelcontextprotocol/server-filesystem /srv/notes", fs.transport().describe());

      assertEquals(McpSettings.NONE, load(LOCAL).talon().mcp());
      assertEquals(java.time.Duration.ofSeconds(60), mcp.callTimeout());
      assertEquals(java.time.Duration.ofSeconds(30), mcp.startTimeout());
      assertEquals(java.time.Duration.ofSeconds(2), mcp.stopTimeout());
      assertEquals(20_000, mcp.maxResultChars());
      assertEquals(java.time.Duration.ofMillis(500), mcp.restartBackoffInitial());
      assertEquals(java.time.Duration.ofSeconds(30), mcp.restartBackoffMax());
      assertEquals(java.time.Duration.ofMinutes(10), mcp.requestedServerIdle());
    }

    @Test
    void theIdleTimeOfRequestedServersIsAPositiveNumberOfSeconds() {
      for (String bad : List.of("0", "-5", "\"600\"", "1.5")) {
        ConfigProblem error = only(errors(with("{ mcp: { requestedServerIdleSeconds: " + bad + " } }", "{}")));
        assertEquals("talon.mcp.requestedServerIdleSeconds", error.path(), bad);
      }
    }

    @Test
    void readsTheLimitsAndTheUrlsARequestMayName() {
      McpSettings mcp = load(with("""
          { mcp: { callTimeoutSeconds: 20, startTimeoutSeconds: 10, stopTimeoutSeconds: 1, maxResultChars: 4000,
                   restartBackoffInitialMs: 100, restartBackoffMaxMs: 1000, requestedServerIdleSeconds: 45,
                   allowedUrls: ["HTTPS://Tools.Example.com/mcp/", "http://127.0.0.1:9000/mcp"],
                   servers: { s: { url: "http://127.0.0.1:1/mcp" } } } }""", "{}")).talon().mcp();
      assertEquals(java.time.Duration.ofSeconds(20), mcp.servers().get("s").callTimeout());
      assertEquals(java.time.Duration.ofSeconds(10), mcp.startTimeout());
      assertEquals(java.time.Duration.ofSeconds(1), mcp.stopTimeout());
      assertEquals(4000, mcp.maxResultChars());
      assertEquals(java.time.Duration.ofMillis(100), mcp.restartBackoffInitial());
      assertEquals(java.time.Duration.ofSeconds(1), mcp.restartBackoffMax());
      assertEquals(java.time.Duration.ofSeconds(45), mcp.requestedServerIdle());
      assertTrue(mcp.allowsUrl("https://tools.example.com/mcp"));
      assertTrue(mcp.allowsUrl("http://127.0.0.1:9000/mcp/"));
      assertFalse(mcp.allowsUrl("http://127.0.0.1:9001/mcp"));
      assertFalse(mcp.allowsUrl("https://tools.example.com/mcp/other"));
      assertFalse(mcp.allowsUrl("not a url"));
    }

    @Test
    void aServerIsACommandOrAUrlExactlyOnceWithItsOwnKeysOnly() {
      List<ConfigProblem> errors = errors(with("""
          { mcp: { servers: {
              neither: { args: ["x"] },
              both: { command: "srv", url: "http://127.0.0.1:1/mcp" },
              badUrl: { url: "ftp://host/mcp" },
              stdioWithHeaders: { command: "srv", headers: { a: "b" } },
              httpWithArgs: { url: "http://127.0.0.1:1/mcp", args: ["x"], cwd: "/" },
              "has.dot": { command: "srv" },
              blank: { command: "" },
              notAnObject: "srv",
          } } }""", "{}"));
      assertEquals(List.of("talon.mcp.servers.neither", "talon.mcp.servers.both", "talon.mcp.servers.badUrl.url",
          "talon.mcp.servers.stdioWithHeaders.headers", "talon.mcp.servers.httpWithArgs.args",
          "talon.mcp.servers.httpWithArgs.cwd", "talon.mcp.servers[\"has.dot\"]", "talon.mcp.servers.blank.command",
          "talon.mcp.servers.notAnObject"), errors.stream().map(ConfigProblem::path).toList());
      assertTrue(errors.stream().allMatch(e -> e.line() > 0), errors::toString);
      assertEquals("required: command (a local process spoken to over stdio) or url (a Streamable HTTP endpoint)",
          errors.get(0).message());
      assertEquals("set command (a local process spoken to over stdio) or url (Streamable HTTP), not both",
          errors.get(1).message());
      assertEquals("expected an http:// or https:// URL with a host, got \"ftp://host/mcp\"", errors.get(2).message());
      assertEquals("applies only to a server with a url; this one has a command", errors.get(3).message());
      assertTrue(errors.get(6).message().startsWith("a server id may hold only letters, digits, _ and -"),
          errors.get(6).message());
    }

    @Test
    void agentsInheritTheDefaultToolsAllowReplacingAndDenyAndApprovalAdding() {
      ModelCatalog catalog = load(with(SERVERS, """
          { defaults: { tools: { allow: ["fs/*"], deny: ["fs/write_file"], requireApproval: ["fs/edit_file"] },
                        maxToolRounds: 4 },
            list: [
              { id: "reader" },
              { id: "researcher", maxToolRounds: 12,
                tools: { allow: ["web/*", "fs/read_text_file"], deny: ["web/post"], requireApproval: ["web/fetch"] } },
            ] }""")).catalog();
      Agent reader = catalog.agent("reader").orElseThrow();
      assertEquals(new ToolRules(entries("fs/*"), entries("fs/write_file"), entries("fs/edit_file")), reader.tools());
      assertEquals(4, reader.maxToolRounds());
      Agent researcher = catalog.agent("researcher").orElseThrow();
      assertEquals(new ToolRules(entries("web/*", "fs/read_text_file"), entries("fs/write_file", "web/post"),
          entries("fs/edit_file", "web/fetch")), researcher.tools());
      assertEquals(12, researcher.maxToolRounds());

      Agent plain = load(LOCAL).catalog().defaultAgent();
      assertEquals(ToolRules.NONE, plain.tools());
      assertEquals(8, plain.maxToolRounds());
    }

    static List<ToolRules.Entry> entries(String... texts) {
      return java.util.Arrays.stream(texts).map(t -> ToolRules.Entry.parse(t).orElseThrow()).toList();
    }

    @Test
    void everyEntryMustNameAConfiguredServerAndHaveTheRightShape() {
      List<ConfigProblem> errors = errors(with(SERVERS, """
          { defaults: { tools: { allow: ["fs/*", "gh/*", "fs", "web/read_*"], deny: ["gone/*"] }, maxToolRounds: 0 },
            list: [{ id: "a", tools: { allow: ["git/log"] }, maxToolRounds: 0 }] }"""));
      assertEquals(List.of("agents.defaults.tools.allow[2]", "agents.defaults.tools.allow[3]",
              "agents.defaults.maxToolRounds", "agents.list[0].maxToolRounds",
              "agents.defaults.tools.allow[1]", "agents.defaults.tools.deny[0]", "agents.list[0].tools.allow[0]"),
          errors.stream().map(ConfigProblem::path).toList());
      assertEquals("expected \"server/tool\" or \"server/*\" (a server id under talon.mcp.servers, a slash, then a"
          + " tool name or *), got \"fs\"", errors.get(0).message());
      assertEquals("no MCP server \"gh\" under talon.mcp.servers; configured: fs, web", errors.get(4).message());
      assertEquals("no MCP server \"git\" under talon.mcp.servers (none is configured)",
          only(errors(with("{}", "{ defaults: { tools: { requireApproval: [\"git/log\"] } } }"))).message());
    }

    @Test
    void headerAndEnvironmentValuesNeverShowInThePrintedSettings() {
      String printed = load(with("""
          { mcp: { servers: {
              fs: { command: "srv", env: { GITHUB_TOKEN: "env-secret-value-1" } },
              web: { url: "http://127.0.0.1:1/mcp", headers: { Authorization: "Bearer hdr-secret-value-2" } } } } }""",
          "{}")).talon().toString();
      assertFalse(printed.contains("env-secret-value-1"), printed);
      assertFalse(printed.contains("hdr-secret-value-2"), printed);
      assertTrue(printed.contains("GITHUB_TOKEN") && printed.contains("Authorization"), printed);
    }

    @Test
    void theRestartBackoffMustNotShrink() {
      ConfigProblem error = only(errors(with("{ mcp: { restartBackoffInitialMs: 5000, restartBackoffMaxMs: 100 } }",
          "{}")));
      assertEquals("talon.mcp.restartBackoffMaxMs", error.path());
      assertEquals("restartBackoffMaxMs (100) must be at least restartBackoffInitialMs (5000)", error.message());
    }
  }
}
