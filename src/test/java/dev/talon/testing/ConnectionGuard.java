package dev.talon.testing;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.SharedKillSwitch;
import org.apache.pekko.stream.javadsl.BidiFlow;
import org.apache.pekko.stream.javadsl.Flow;
import org.apache.pekko.util.ByteString;

/**
 * The bytes-level stage between each TCP connection and Pekko HTTP's server layer; it does the two
 * things a route cannot ask Pekko HTTP for:
 *
 * <ul>
 *   <li>A client that closes its side ends the connection. Pekko HTTP supports client half-close
 *       and keeps a response streaming until a write fails (akka/akka-core#26453), so a stalled
 *       stream would never learn its client left. LLM clients never half-close: here the end of the
 *       client's bytes (FIN or reset) closes the connection at once, which cancels the response
 *       stream, which {@link EventStream} reports as a closed connection.
 *   <li>A scripted drop closes the connection in the middle of a chunked body, after every byte
 *       before it was written. Failing the entity source makes Pekko abort (RST) instead, but the
 *       TCP stage discards what it has buffered and the client may lose frames sent before the
 *       abort, even the response headers (seen on loopback). So the stream ends with the {@link
 *       #DROP} chunk, and here the outbound bytes are completed just before it: the TCP stage
 *       flushes, then closes, and the body never gets its last chunk.
 * </ul>
 */
final class ConnectionGuard {
  /** The chunk that marks where a stream is cut; never sent. */
  static final ByteString DROP =
      ByteString.fromString(
          "\u0000fake-upstream: close this connection\u0000", StandardCharsets.UTF_8);

  // Pekko HTTP frames the DROP chunk as "<size in hex>\r\n" DROP "\r\n".
  private static final int DROP_CHUNK_HEADER = (Integer.toHexString(DROP.size()) + "\r\n").length();
  private static final ByteString END =
      ByteString.fromArray(new byte[] {0}); // compared by identity

  private final SharedKillSwitch server = KillSwitches.shared("fake-upstream");

  /**
   * Outbound (server to client) on top, inbound below, as {@code serverLayer().atop(…)} wants it.
   */
  BidiFlow<ByteString, ByteString, ByteString, ByteString, NotUsed> perConnection() {
    SharedKillSwitch clientGone = KillSwitches.shared("client-gone");
    Flow<ByteString, ByteString, NotUsed> outbound =
        Flow.of(ByteString.class)
            .via(clientGone.<ByteString>flow())
            .via(server.<ByteString>flow())
            .mapConcat(ConnectionGuard::cutAtDrop)
            .takeWhile(bytes -> bytes != END);
    Flow<ByteString, ByteString, NotUsed> inbound =
        Flow.of(ByteString.class)
            .watchTermination(
                (mat, done) -> {
                  done.whenComplete((ok, failure) -> clientGone.shutdown());
                  return NotUsed.getInstance();
                });
    return BidiFlow.fromFlows(outbound, inbound);
  }

  /** Ends every connection, e.g. stalled streams when the fake closes. */
  void closeAll() {
    server.shutdown();
  }

  /** The bytes before the DROP chunk, then END. */
  private static List<ByteString> cutAtDrop(ByteString bytes) {
    int drop = bytes.indexOfSlice(DROP);
    if (drop < 0) {
      return List.of(bytes);
    }
    int chunkStart = Math.max(0, drop - DROP_CHUNK_HEADER);
    return chunkStart == 0 ? List.of(END) : List.of(bytes.take(chunkStart), END);
  }
}
