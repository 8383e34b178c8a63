package dev.talon.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.talon.config.ToolRules;
import dev.talon.tools.ToolPolicy.Verdict;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ToolPolicyTest {
  static List<ToolRules.Entry> entries(String... texts) {
    return Arrays.stream(texts).map(t -> ToolRules.Entry.parse(t).orElseThrow()).toList();
  }

  static ToolPolicy policy(List<ToolRules.Entry> allow, List<ToolRules.Entry> deny, List<ToolRules.Entry> approval) {
    return new ToolPolicy("main", new ToolRules(allow, deny, approval));
  }

  static ToolSpec tool(String server, String name) {
    return new ToolSpec(server, name, "", JsonNodeFactory.instance.objectNode());
  }

  @Test
  void nothingIsAllowedUnlessListed() {
    ToolPolicy none = new ToolPolicy("main", ToolRules.NONE);
    ToolPolicy.Decision decision = none.decide("fs", "read_file");
    assertEquals(Verdict.DENY, decision.verdict());
    assertEquals("tool fs/read_file is not allowed for agent main (no entry of its allow list names it)",
        decision.reason());
    assertEquals(Set.of(), none.servers());
  }

  @Test
  void aServerWildcardAllowsEveryToolOfThatServerOnly() {
    ToolPolicy fs = policy(entries("fs/*"), List.of(), List.of());
    assertEquals(Verdict.ALLOW, fs.decide("fs", "read_file").verdict());
    assertEquals(Verdict.ALLOW, fs.decide("fs", "write_file").verdict());
    assertEquals(Verdict.DENY, fs.decide("web", "read_file").verdict());
    assertEquals("tool fs/write_file is allowed for agent main (allow: fs/*)", fs.decide("fs", "write_file").reason());
  }

  @Test
  void denyWinsOverAnyAllow() {
    ToolPolicy policy = policy(entries("fs/*", "fs/write_file"), entries("fs/write_file"), List.of());
    ToolPolicy.Decision write = policy.decide("fs", "write_file");
    assertEquals(Verdict.DENY, write.verdict());
    assertEquals("tool fs/write_file is denied to agent main (deny: fs/write_file)", write.reason());
    assertEquals(Verdict.ALLOW, policy.decide("fs", "read_file").verdict());
  }

  @Test
  void approvalMarksAllowedToolsAndAllowsNothingByItself() {
    ToolPolicy policy = policy(entries("fs/*"), List.of(), entries("fs/write_file", "web/*"));
    ToolPolicy.Decision write = policy.decide("fs", "write_file");
    assertEquals(Verdict.ASK, write.verdict());
    assertEquals("calls of fs/write_file by agent main wait for approval (requireApproval: fs/write_file)",
        write.reason());
    assertEquals(Verdict.ALLOW, policy.decide("fs", "read_file").verdict());
    assertEquals(Verdict.DENY, policy.decide("web", "fetch").verdict());
  }

  @Test
  void namesMatchExactlyAndAToolNameMayHoldASlash() {
    ToolPolicy policy = policy(entries("gh/issues/create"), List.of(), List.of());
    assertEquals(Verdict.ALLOW, policy.decide("gh", "issues/create").verdict());
    assertEquals(Verdict.DENY, policy.decide("gh", "issues/Create").verdict());
    assertEquals(Verdict.DENY, policy.decide("GH", "issues/create").verdict());
  }

  @Test
  void theVisibleToolsKeepTheirOrderAndIncludeThoseThatWaitForApproval() {
    ToolPolicy policy = policy(entries("fs/*", "web/fetch"), entries("fs/delete"), entries("fs/write"));
    List<ToolSpec> offered = List.of(tool("fs", "read"), tool("fs", "delete"), tool("fs", "write"), tool("web", "fetch"),
        tool("web", "post"));
    assertEquals(List.of("fs/read", "fs/write", "web/fetch"),
        policy.visible(offered).stream().map(ToolSpec::qualifiedName).toList());
  }

  @Test
  void theServersToStartAreThoseAnAllowEntryNamesUnlessDeniedWhole() {
    ToolPolicy policy = policy(entries("web/fetch", "fs/*", "db/query", "web/post"), entries("db/*", "fs/delete"),
        List.of());
    assertEquals(List.of("web", "fs"), List.copyOf(policy.servers()));
  }

  @Test
  void onlyServerSlashToolOrServerSlashStarAreEntries() {
    for (String bad : List.of("fs", "/read", "fs/", "*", "*/*", "fs/read_*", "f s/read", "fs.x/read")) {
      assertEquals(java.util.Optional.empty(), ToolRules.Entry.parse(bad), bad);
    }
  }
}
