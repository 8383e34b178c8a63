package dev.talon.testing;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A bare HTTP/1.1 client on a socket, for what higher-level clients hide: the chunk boundaries of a
 * chunked body, and whether it ended with its last chunk or was cut by an aborted connection.
 */
final class RawHttp implements AutoCloseable {

  /**
   * The chunks read; {@code complete} is false when the connection ended without the last chunk.
   */
  record Body(List<byte[]> chunks, boolean complete) {
    String text() {
      ByteArrayOutputStream all = new ByteArrayOutputStream();
      chunks.forEach(all::writeBytes);
      return all.toString(StandardCharsets.UTF_8);
    }
  }

  private final Socket socket;
  private final InputStream in;
  private final ByteArrayOutputStream seen = new ByteArrayOutputStream();
  final int status;
  final Map<String, String> headers = new HashMap<>();

  private RawHttp(Socket socket) throws IOException {
    this.socket = socket;
    this.in = socket.getInputStream();
    this.status = Integer.parseInt(readLine().split(" ")[1]);
    for (String line = readLine(); !line.isEmpty(); line = readLine()) {
      int colon = line.indexOf(':');
      headers.put(line.substring(0, colon).trim().toLowerCase(), line.substring(colon + 1).trim());
    }
  }

  static RawHttp post(InetSocketAddress address, String path, String json) throws IOException {
    return post(address, path, json, Duration.ofSeconds(10));
  }

  /** Sends the request and reads the response head; {@code readTimeout} bounds every read. */
  static RawHttp post(InetSocketAddress address, String path, String json, Duration readTimeout)
      throws IOException {
    Socket socket = new Socket(address.getAddress(), address.getPort());
    socket.setSoTimeout((int) readTimeout.toMillis());
    byte[] body = json.getBytes(StandardCharsets.UTF_8);
    OutputStream out = socket.getOutputStream();
    out.write(
        ("POST "
                + path
                + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                + "Content-Length: "
                + body.length
                + "\r\n\r\n")
            .getBytes(StandardCharsets.US_ASCII));
    out.write(body);
    out.flush();
    try {
      return new RawHttp(socket);
    } catch (IOException e) {
      socket.close();
      throw e;
    }
  }

  /** Bounds every later read. */
  RawHttp readTimeout(Duration timeout) throws SocketException {
    socket.setSoTimeout((int) timeout.toMillis());
    return this;
  }

  /**
   * The next chunk's data, or null after the last chunk; EOFException if the connection ends first.
   */
  byte[] nextChunk() throws IOException {
    String sizeLine = readLine();
    int size = Integer.parseInt(sizeLine.split(";")[0].trim(), 16);
    if (size == 0) {
      while (!readLine().isEmpty()) {
        // trailers
      }
      return null;
    }
    byte[] data = in.readNBytes(size);
    if (data.length < size) {
      throw new EOFException("connection ended inside a chunk");
    }
    readLine();
    seen.writeBytes(data);
    return data;
  }

  /** Reads chunks until the body so far contains {@code marker}; returns the body so far. */
  String readUntil(String marker) throws IOException {
    while (!seen.toString(StandardCharsets.UTF_8).contains(marker)) {
      if (nextChunk() == null) {
        throw new AssertionError(
            "body ended without " + marker + ": " + seen.toString(StandardCharsets.UTF_8));
      }
    }
    return seen.toString(StandardCharsets.UTF_8);
  }

  /** Reads every chunk until the last one or until the connection ends or is reset. */
  Body readToEnd() throws IOException {
    List<byte[]> chunks = new ArrayList<>();
    try {
      for (byte[] chunk = nextChunk(); chunk != null; chunk = nextChunk()) {
        chunks.add(chunk);
      }
      return new Body(chunks, true);
    } catch (EOFException | NumberFormatException e) {
      return new Body(chunks, false);
    } catch (SocketException e) { // connection reset
      return new Body(chunks, false);
    }
  }

  /** Reads the fixed-length body of a non-chunked response; EOFException when it is cut short. */
  String readContent() throws IOException {
    int length = Integer.parseInt(headers.get("content-length"));
    byte[] data = in.readNBytes(length);
    if (data.length < length) {
      throw new EOFException("body cut after " + data.length + " of " + length + " bytes");
    }
    return new String(data, StandardCharsets.UTF_8);
  }

  private String readLine() throws IOException {
    ByteArrayOutputStream line = new ByteArrayOutputStream();
    for (int b = in.read(); b != '\n'; b = in.read()) {
      if (b == -1) {
        throw new EOFException("connection ended");
      }
      line.write(b);
    }
    String text = line.toString(StandardCharsets.UTF_8);
    return text.endsWith("\r") ? text.substring(0, text.length() - 1) : text;
  }

  @Override
  public void close() throws IOException {
    socket.close();
  }
}
