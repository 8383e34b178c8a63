package dev.talon.gateway;

import dev.talon.config.GatewaySettings;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Pattern;
import org.apache.pekko.http.javadsl.model.HttpHeader;
import org.apache.pekko.http.javadsl.model.HttpMethods;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;

/**
 * Keeps web pages the user happens to visit away from the API, token or not. A page may send a
 * "simple" cross-site POST without asking first, and DNS rebinding lets it read answers under its
 * own host name; so the API refuses a {@code Host} that is not this machine's, a browser
 * {@code Origin} that is not allowed, and a POST whose body is not declared JSON (which no simple
 * request can send). Allowed origins get CORS answers, so a web UI can be let in. Talon's own chat
 * page (see {@link WebRoutes}) is let in as what it is, the same origin: its {@code Origin} is this
 * server under the {@code Host} the request was let in for.
 */
final class BrowserGuard {
  private static final Pattern LOOPBACK_V4 = Pattern.compile("127(\\.\\d{1,3}){3}");
  private static final Pattern IP_LITERAL = Pattern.compile("\\d{1,3}(\\.\\d{1,3}){3}|\\[[0-9a-f:.]+]");
  private static final String ALLOWED_METHODS = "GET, POST, DELETE";
  private static final String EXPOSED_HEADERS = TurnRequest.SESSION_HEADER + ", Retry-After";
  /** Browsers cap this anyway (Chrome at two hours); ten minutes spares a web UI most preflights. */
  private static final String PREFLIGHT_MAX_AGE_SECONDS = "600";

  private final Set<String> names;
  private final boolean beyondLoopback;
  private final Set<String> origins;

  BrowserGuard(GatewaySettings settings) {
    this.beyondLoopback = !GatewaySettings.isLoopback(settings.bind());
    this.names = new TreeSet<>(List.of("localhost", "[::1]"));
    settings.browsers().allowedHosts().forEach(host -> names.add(hostName(host)));
    if (beyondLoopback) {
      names.addAll(ownNames());
    }
    this.origins = new TreeSet<>();
    settings.browsers().allowedOrigins().forEach(origin -> origins.add(origin.toLowerCase(Locale.ROOT)));
  }

  /** The answer to a request refused or answered here (a CORS preflight), or empty to let it through. */
  Optional<HttpResponse> intercept(HttpRequest request) {
    Optional<String> host = request.getHeader("Host").map(HttpHeader::value);
    if (host.isPresent() && !hostAllowed(hostName(host.get()))) {
      return Optional.of(new ApiError(403, "invalid_request_error", "host_not_allowed", null,
          "Requests for the host '" + hostName(host.get()) + "' are refused: add it to gateway.allowedHosts if"
              + " clients reach Talon under that name.").response());
    }
    Optional<String> origin = crossOrigin(request);
    if (origin.isPresent() && !origins.contains(origin.get().toLowerCase(Locale.ROOT))) {
      return Optional.of(new ApiError(403, "invalid_request_error", "origin_not_allowed", null,
          "Browser requests from the origin '" + origin.get() + "' are refused: add it to gateway.allowedOrigins"
              + " to let that web page use the API.").response());
    }
    if (origin.isPresent() && request.method().equals(HttpMethods.OPTIONS)
        && request.getHeader("Access-Control-Request-Method").isPresent()) {
      return Optional.of(preflight(origin.get(), request));
    }
    if (request.method().equals(HttpMethods.POST)
        && !request.entity().getContentType().mediaType().equals(MediaTypes.APPLICATION_JSON)) {
      return Optional.of(new ApiError(415, "invalid_request_error", "unsupported_media_type", null,
          "Send POST bodies as JSON with the header \"Content-Type: application/json\".").response());
    }
    return Optional.empty();
  }

  /** The CORS headers for a response to an allowed browser origin; none for other clients. */
  List<HttpHeader> responseHeaders(HttpRequest request) {
    return crossOrigin(request).map(origin -> List.<HttpHeader>of(RawHeader.create("Access-Control-Allow-Origin", origin),
        RawHeader.create("Access-Control-Expose-Headers", EXPOSED_HEADERS), RawHeader.create("Vary", "Origin")))
        .orElse(List.of());
  }

  private HttpResponse preflight(String origin, HttpRequest request) {
    List<HttpHeader> headers = new ArrayList<>(List.of(RawHeader.create("Access-Control-Allow-Origin", origin),
        RawHeader.create("Access-Control-Allow-Methods", ALLOWED_METHODS),
        RawHeader.create("Access-Control-Max-Age", PREFLIGHT_MAX_AGE_SECONDS), RawHeader.create("Vary", "Origin")));
    // the origin is trusted, so whatever headers its page wants to send (SDKs add their own) may come
    request.getHeader("Access-Control-Request-Headers")
        .ifPresent(asked -> headers.add(RawHeader.create("Access-Control-Allow-Headers", asked.value())));
    return HttpResponse.create().withStatus(StatusCodes.NO_CONTENT).addHeaders(headers);
  }

  /**
   * A browser's {@code Origin} when it is another site's; {@code "null"} (a sandboxed page, a
   * file) counts as a foreign one. A page of this very server sends {@code http://} and the
   * {@code Host} it was asked under (browsers add Origin to same-origin POSTs too); only Talon
   * serves pages there, and a foreign Host was refused before this.
   */
  private static Optional<String> crossOrigin(HttpRequest request) {
    Optional<String> host = request.getHeader("Host").map(HttpHeader::value).map(String::strip);
    return request.getHeader("Origin").map(HttpHeader::value).map(String::strip)
        .filter(origin -> host.map(own -> !origin.equalsIgnoreCase("http://" + own)).orElse(true));
  }

  /**
   * Loopback names always. A gateway bound beyond loopback also answers to IP addresses, which
   * DNS rebinding cannot forge (it needs a name it controls), and to this machine's own names.
   */
  private boolean hostAllowed(String host) {
    return names.contains(host) || LOOPBACK_V4.matcher(host).matches()
        || beyondLoopback && IP_LITERAL.matcher(host).matches();
  }

  /** {@code Host} without its port, lower-case: {@code [::1]:18789} is {@code [::1]}. */
  private static String hostName(String host) {
    String name = host.strip().toLowerCase(Locale.ROOT);
    int colon = name.lastIndexOf(':');
    return colon > name.lastIndexOf(']') ? name.substring(0, colon) : name;
  }

  private static Set<String> ownNames() {
    Set<String> own = new TreeSet<>();
    try {
      InetAddress self = InetAddress.getLocalHost();
      own.add(self.getHostName().toLowerCase(Locale.ROOT));
      own.add(self.getCanonicalHostName().toLowerCase(Locale.ROOT));
    } catch (UnknownHostException e) {
      // a machine without a resolvable name of its own is reached by address or by allowedHosts
    }
    return own;
  }
}
