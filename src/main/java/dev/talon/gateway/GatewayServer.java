package dev.talon.gateway;

import dev.talon.config.GatewaySettings;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.settings.ServerSettings;

/** Binds Talon's HTTP API on the configured address and port. */
public final class GatewayServer {
  private GatewayServer() {}

  /**
   * Binds {@code routes}. Without an auth token the API is open to anyone who can reach it, so
   * binding to anything but loopback is refused.
   */
  public static CompletionStage<ServerBinding> bind(ActorSystem<?> system, GatewaySettings settings, Route routes) {
    if (settings.openBeyondLoopback()) { // the config loader refuses this too; settings made in code may not be
      throw new IllegalStateException("refusing to listen on " + settings.bind()
          + " without an auth token: set gateway.auth.token (or TALON_GATEWAY_TOKEN), or bind to loopback");
    }
    ServerSettings server = ServerSettings.create(system.classicSystem());
    // Pekko's own body limit covers every route: a larger body fails as it is read, even one
    // sent chunked without a length.
    server = server.withBacklog(settings.limits().backlog()).withParsingErrorHandler(ParseErrors.class.getName())
        .withParserSettings(server.getParserSettings().withMaxContentLength(settings.limits().maxBodyBytes()));
    return Http.get(system).newServerAt(settings.bind(), settings.port()).withSettings(server).bind(routes);
  }
}
