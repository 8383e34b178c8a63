package dev.talon.config;

import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

/**
 * A resolved model provider: where it lives, how to authenticate, what it speaks.
 *
 * @param apiKey empty when no key is configured: then no Authorization header is sent
 * @param timeout the provider's {@code timeoutSeconds}, or null for the runtime's defaults
 * @param unavailableReason null when the provider can be called; otherwise why not (for a
 *     built-in provider whose key variable is not set)
 */
public record Provider(
    String id,
    URI baseUrl,
    Api api,
    Optional<String> apiKey,
    Map<String, String> headers,
    Duration timeout,
    Origin origin,
    String unavailableReason) {

  static final int MIN_SECRET_LENGTH = 8;

  private static final Pattern ADDRESS_LITERAL = Pattern.compile("[0-9.]+|\\[?[0-9a-fA-F:]+]?");
  private static final Map<String, Boolean> LOCAL_ADDRESSES = new ConcurrentHashMap<>();

  public Provider {
    headers = Map.copyOf(headers);
  }

  /**
   * The values that must never be quoted back: the API key and the header values (which may be
   * credentials such as {@code x-api-key}). Values shorter than {@value #MIN_SECRET_LENGTH}
   * characters are flags, not secrets; masking them would garble messages.
   */
  public List<String> secrets() {
    List<String> secrets = new ArrayList<>();
    apiKey.ifPresent(secrets::add);
    secrets.addAll(headers.values());
    secrets.removeIf(value -> value.length() < MIN_SECRET_LENGTH);
    return secrets;
  }

  public boolean available() {
    return unavailableReason == null;
  }

  /**
   * True for a server on this machine or the local network: such servers get the long cold-load
   * first-token timeout and may use a non-secret key marker such as "lmstudio".
   */
  public boolean isLocal() {
    String host = baseUrl.getHost();
    if (host == null) {
      return false;
    }
    if (host.equalsIgnoreCase("localhost") || host.endsWith(".local") || host.endsWith(".lan")) {
      return true;
    }
    // Asked on every model call: an address is classified once per host.
    return LOCAL_ADDRESSES.computeIfAbsent(host, Provider::isLocalAddress);
  }

  private static boolean isLocalAddress(String host) {
    if (!ADDRESS_LITERAL.matcher(host).matches()) {
      return false; // a DNS name: do not resolve it just to classify it
    }
    try {
      InetAddress address = InetAddress.getByName(host);
      return address.isLoopbackAddress() || address.isSiteLocalAddress() || address.isLinkLocalAddress();
    } catch (UnknownHostException e) {
      return false;
    }
  }

  @Override
  public String toString() {
    return "Provider[id=" + id + ", baseUrl=" + baseUrl + ", api=" + api + ", apiKey=" + Secrets.masked(apiKey)
        + ", headers=" + Secrets.maskedValues(headers) + ", timeout=" + timeout + ", origin=" + origin
        + ", unavailableReason=" + unavailableReason + "]";
  }

  /** Where a provider or model came from: the user's file, or Talon's built-in hosted catalog. */
  public enum Origin {
    CONFIG("config"),
    BUILT_IN("built-in");

    private final String label;

    Origin(String label) {
      this.label = label;
    }

    @Override
    public String toString() {
      return label;
    }
  }
}
