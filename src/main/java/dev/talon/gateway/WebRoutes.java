package dev.talon.gateway;

import java.util.List;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;

/**
 * The chat page: {@code /} is its HTML, {@code /web/…} its scripts and styles, all static files
 * from the jar's {@code web/} folder (content types from their extensions). The page uses the
 * public API like any other client, token included, so these routes need no token themselves, and
 * like {@code /health} they answer any host: a page is no secret, and under a foreign host its
 * API calls would be refused anyway.
 */
final class WebRoutes extends AllDirectives {
  private static final String FOLDER = "web";
  /**
   * The page loads only its own files and talks only to its own origin, so a text that slipped
   * through unescaped still could not run or send anything; no other site may frame it (clicks
   * on a hidden stop button). Browsers revalidate every file, so a new version shows at once.
   */
  private static final List<HttpHeader> HEADERS = List.of(
      RawHeader.create("Content-Security-Policy",
          "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
      RawHeader.create("X-Content-Type-Options", "nosniff"),
      RawHeader.create("Referrer-Policy", "no-referrer"),
      RawHeader.create("Cache-Control", "no-cache"));

  Route route() {
    return concat(
        pathSingleSlash(() -> get(() -> respondWithHeaders(HEADERS, () -> getFromResource(FOLDER + "/index.html")))),
        pathPrefix(FOLDER, () -> get(() -> respondWithHeaders(HEADERS, () -> getFromResourceDirectory(FOLDER)))));
  }
}
