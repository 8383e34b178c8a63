package dev.talon.gateway;

import org.apache.pekko.event.LoggingAdapter;
import org.apache.pekko.http.ParsingErrorHandler;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.scaladsl.model.ErrorInfo;
import org.apache.pekko.http.scaladsl.model.StatusCode;
import org.apache.pekko.http.scaladsl.settings.ServerSettings;

/**
 * Requests Pekko cannot even parse (a header or URI over its limits, a malformed request line)
 * are answered in the same OpenAI error shape as everything else. Pekko makes it by class name.
 */
public final class ParseErrors extends ParsingErrorHandler {
  @Override
  public HttpResponse handle(StatusCode status, ErrorInfo info, LoggingAdapter log, ServerSettings settings) {
    String code = status.intValue() == 413 ? "request_too_large" : "invalid_request";
    return new ApiError(status.intValue(), "invalid_request_error", code, null, info.summary()).response();
  }
}
