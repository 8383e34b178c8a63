package dev.talon.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class ToolResultTest {
  @Test
  void aResultWithinTheLimitIsKeptWhole() {
    ToolResult result = ToolResult.of("fs", "read", "0123456789", false, 10);
    assertEquals("0123456789", result.text());
    assertEquals(10, result.fullChars());
    assertFalse(result.truncated());
  }

  @Test
  void aLongerOneIsCutWithItsLengthNoted() {
    ToolResult result = ToolResult.of("fs", "read", "0123456789AB", true, 10);
    assertEquals("0123456789\n[truncated: the first 10 of 12 characters]", result.text());
    assertEquals(12, result.fullChars());
    assertTrue(result.truncated());
    assertTrue(result.error());
  }

  @Test
  void theCutNeverSplitsACharacterOutsideTheBasicPlane() {
    ToolResult result = ToolResult.of("fs", "read", "abc\uD83D\uDE00def", false, 4);
    assertEquals("abc\n[truncated: the first 3 of 8 characters]", result.text());
  }
}
