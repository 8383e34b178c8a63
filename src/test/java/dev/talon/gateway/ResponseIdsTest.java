package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.talon.config.GatewaySettings;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Optional;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Response ids: sealed, stable, routable by every node with the same secret and by no other. */
class ResponseIdsTest {
  static final String TURN = UUID.randomUUID().toString();

  static GatewaySettings withSecret(String secret) {
    GatewaySettings d = GatewaySettings.loopback(0, null);
    return new GatewaySettings(0, d.bind(), d.authToken(), false, d.keepAlive(), d.browsers(), d.limits(),
        Optional.ofNullable(secret), false);
  }

  @Test
  void anIdOpensToItsConversationAndTurnAndIsTheSameEachTime() {
    ResponseIds ids = new ResponseIds(new byte[32]);
    String key = "agent:main:telegram:12345";
    String id = ids.of(key, TURN);
    assertEquals(id, ids.of(key, TURN));
    assertNotEquals(id, ids.of(key, UUID.randomUUID().toString()));
    assertEquals(Optional.of(new ResponseIds.Ref(key, TURN)), ids.parse(id));
    assertFalse(id.contains("agent") || id.contains("telegram"), id);
  }

  @Test
  void nodesWithTheConfiguredSecretShareIdsAndOthersCannotOpenThem(@TempDir Path a, @TempDir Path b) {
    String secret = "0123456789abcdef0123456789abcdef-shared";
    String id = ResponseIds.forNode(withSecret(secret), a).of("k", TURN);
    assertEquals(Optional.of(new ResponseIds.Ref("k", TURN)), ResponseIds.forNode(withSecret(secret), b).parse(id));
    assertEquals(Optional.empty(), ResponseIds.forNode(withSecret(secret + "x"), b).parse(id));
    assertFalse(Files.exists(a.resolve(ResponseIds.SECRET_FILE)), "a configured secret writes no file");
  }

  @Test
  void withoutOneASecretIsGeneratedOnceIntoTheDataDirectoryForItsOwnerOnly(@TempDir Path data) throws Exception {
    String id = ResponseIds.forNode(withSecret(null), data.resolve("sub")).of("k", TURN);
    Path file = data.resolve("sub").resolve(ResponseIds.SECRET_FILE);
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
    assertEquals(Optional.of(new ResponseIds.Ref("k", TURN)),
        ResponseIds.forNode(withSecret(null), data.resolve("sub")).parse(id), "a restart keeps its ids");
    try (var files = Files.list(data.resolve("sub"))) {
      assertEquals(1, files.count(), "no temporary file left behind");
    }
  }

  @Test
  void garbageAndOldStyleIdsDoNotOpen() {
    ResponseIds ids = new ResponseIds(new byte[32]);
    for (String id : new String[] {null, "", "resp_", "resp_!!", "resp_AAAA", "msg_abc",
        "resp_" + TURN.replace("-", "") + "a2V5"}) {
      assertEquals(Optional.empty(), ids.parse(id), String.valueOf(id));
    }
  }
}
