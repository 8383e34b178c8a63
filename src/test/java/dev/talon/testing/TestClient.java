package dev.talon.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpRequest.BodyPublishers;
import java.net.http.HttpResponse;
import java.net.http.HttpResponse.BodyHandler;
import java.net.http.HttpResponse.BodyHandlers;
import java.time.Duration;

/** A plain JDK HTTP/1.1 client with bounded timeouts, as an upstream client would call the fake. */
final class TestClient {
  private static final HttpClient HTTP =
      HttpClient.newBuilder()
          .version(HttpClient.Version.HTTP_1_1)
          .connectTimeout(Duration.ofSeconds(5))
          .build();

  private TestClient() {}

  static HttpResponse<String> post(FakeUpstream fake, String path, String json) {
    return post(fake, path, json, BodyHandlers.ofString());
  }

  static <T> HttpResponse<T> post(
      FakeUpstream fake, String path, String json, BodyHandler<T> handler) {
    HttpRequest request =
        HttpRequest.newBuilder(URI.create(fake.url(path)))
            .timeout(Duration.ofSeconds(10))
            .header("Content-Type", "application/json")
            .header("Authorization", "Bearer sk-test")
            .POST(BodyPublishers.ofString(json))
            .build();
    return send(request, handler);
  }

  static HttpResponse<String> get(FakeUpstream fake, String path) {
    HttpRequest request =
        HttpRequest.newBuilder(URI.create(fake.url(path))).timeout(Duration.ofSeconds(10)).build();
    return send(request, BodyHandlers.ofString());
  }

  private static <T> HttpResponse<T> send(HttpRequest request, BodyHandler<T> handler) {
    try {
      return HTTP.send(request, handler);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
