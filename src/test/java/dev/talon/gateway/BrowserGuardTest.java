package dev.talon.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.talon.config.GatewaySettings;
import java.net.InetAddress;
import java.util.List;
import java.util.Optional;
import org.apache.pekko.http.javadsl.model.HttpRequest;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Which {@code Host} a gateway answers to, on loopback and beyond it. */
class BrowserGuardTest {
  static BrowserGuard bound(String bind) {
    GatewaySettings d = GatewaySettings.loopback(0, "t");
    return new BrowserGuard(new GatewaySettings(0, bind, d.authToken(), false, d.keepAlive(),
        new GatewaySettings.Browsers(List.of("talon.home.lan:18789"), List.of()), d.limits(),
        Optional.empty(), false));
  }

  static int status(BrowserGuard guard, String host) {
    return guard.intercept(HttpRequest.GET("/v1/models").addHeader(RawHeader.create("Host", host)))
        .map(response -> response.status().intValue()).orElse(200);
  }

  @ParameterizedTest
  @CsvSource({"localhost:18789, 200, 200", "127.0.0.1, 200, 200", "[::1]:18789, 200, 200",
      "talon.home.lan, 200, 200", "TALON.home.lan:8443, 200, 200", "192.168.1.20:18789, 403, 200",
      "10.0.0.7, 403, 200", "[fe80::1]:18789, 403, 200", "evil.example, 403, 403", "192.168.1.20.nip.io, 403, 403"})
  void loopbackNamesAlwaysAddressesBeyondLoopbackAndAllowedHosts(String host, int onLoopback, int onLan) {
    assertEquals(onLoopback, status(bound("127.0.0.1"), host), "bound to loopback");
    assertEquals(onLan, status(bound("0.0.0.0"), host), "bound to the LAN");
  }

  @ParameterizedTest
  @CsvSource({"127.0.0.1, 403", "0.0.0.0, 200"})
  void theMachinesOwnNameIsAllowedBeyondLoopback(String bind, int expected) throws Exception {
    String own = InetAddress.getLocalHost().getHostName();
    assertEquals(expected, status(bound(bind), own + ":18789"), own);
  }
}
