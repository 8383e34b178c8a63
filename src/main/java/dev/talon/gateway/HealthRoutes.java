package dev.talon.gateway;

import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.Route;

/** {@code GET /health}: the process is up and serving HTTP. Unauthenticated by design. */
public final class HealthRoutes extends AllDirectives {

  public Route route() {
    return path("health", () -> get(() ->
        complete(StatusCodes.OK, HttpEntities.create(ContentTypes.APPLICATION_JSON, "{\"status\":\"ok\"}"))));
  }
}
