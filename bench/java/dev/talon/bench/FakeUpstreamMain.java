package dev.talon.bench;

import dev.talon.testing.FakeUpstream;
import dev.talon.testing.Request;
import dev.talon.testing.Script;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@link FakeUpstream} as a process of its own, for {@link ServeBench}: streamed and plain Chat
 * Completions and Responses on 127.0.0.1, with the reply chosen by the request's model name,
 * {@code mock-n<tokens>-d<ms>}: that many tokens ({@link GatewayBench#longReply}), {@code ms}
 * between tokens. Prints {@value #LISTENING}{@code <port>} once it serves, and exits when its
 * standard input closes, so that it cannot outlive the benchmark that started it.
 *
 * <p>Usage: {@code java -cp … dev.talon.bench.FakeUpstreamMain}.
 */
public final class FakeUpstreamMain {
  static final String LISTENING = "fake-upstream: listening on port ";
  static final Pattern MODEL = Pattern.compile("mock-n(\\d+)-d(\\d+)");

  // A long reply's tokenization costs as much as serving it: made once per model.
  private static final Map<String, Script> SCRIPTS = new ConcurrentHashMap<>();

  private FakeUpstreamMain() {}

  /** The model name whose reply is {@code tokens} tokens, {@code delayMs} apart. */
  static String model(int tokens, int delayMs) {
    return "mock-n" + tokens + "-d" + delayMs;
  }

  public static void main(String[] args) throws IOException {
    FakeUpstream fake = FakeUpstream.start().setDefault(FakeUpstreamMain::script);
    System.out.println(LISTENING + fake.port());
    System.out.flush();
    while (System.in.read() >= 0) { // the benchmark holds the other end until it exits
    }
    fake.close();
    System.exit(0);
  }

  private static Script script(Request request) {
    return SCRIPTS.computeIfAbsent(request.body().path("model").asText(), model -> {
      Matcher m = MODEL.matcher(model);
      if (!m.matches()) {
        return Script.status(404, "unknown model '" + model + "': expected mock-n<tokens>-d<ms>");
      }
      Script reply = Script.reply(GatewayBench.longReply(Integer.parseInt(m.group(1))));
      int delayMs = Integer.parseInt(m.group(2));
      return delayMs == 0 ? reply : reply.tokenDelay(Duration.ofMillis(delayMs));
    });
  }
}
