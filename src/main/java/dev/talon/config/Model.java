package dev.talon.config;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A resolved model: its provider, effective api, limits and prices, ready for a client to call.
 *
 * @param api the model's own {@code api} or else its provider's
 * @param contextWindow tokens; 200000 when the config gives none
 * @param contextTokens an optional effective cap below the window, or null
 * @param params extra request fields sent with every call to this model
 * @param compat compatibility flags, kept as written (unknown flags are not rejected)
 */
public record Model(
    Provider provider,
    String id,
    String name,
    Api api,
    boolean reasoning,
    List<String> input,
    Cost cost,
    int contextWindow,
    Integer contextTokens,
    int maxTokens,
    Map<String, String> headers,
    ObjectNode params,
    ObjectNode compat,
    Provider.Origin origin) {

  public static final int DEFAULT_CONTEXT_WINDOW = 200_000;
  public static final int DEFAULT_MAX_TOKENS = 8192;

  public Model {
    input = List.copyOf(input);
    headers = Map.copyOf(headers);
  }

  /** The same model under another provider record (a configured override of a built-in). */
  public Model withProvider(Provider replacement) {
    return new Model(replacement, id, name, api, reasoning, input, cost, contextWindow, contextTokens,
        maxTokens, headers, params, compat, origin);
  }

  /** Its provider's secrets and its own header values: what a failure's message must not quote. */
  public List<String> secrets() {
    List<String> secrets = new ArrayList<>(provider.secrets());
    headers.values().stream().filter(value -> value.length() >= Provider.MIN_SECRET_LENGTH).forEach(secrets::add);
    return secrets;
  }

  /** The canonical {@code provider/model} reference. */
  public String ref() {
    return provider.id() + "/" + id;
  }

  /** The tokens the context may use: {@code contextTokens} when set, else the window. */
  public int contextBudget() {
    return contextTokens != null ? Math.min(contextTokens, contextWindow) : contextWindow;
  }

  /** Whether the model reads images ({@code input} includes {@code "image"}); others get a note instead. */
  public boolean acceptsImages() {
    return input.contains("image");
  }

  /** Compat flag: whether inline {@code <think>} tags in chat content are read as reasoning. */
  public static final String THINK_TAGS = "thinkTags";

  /** Whether inline {@code <think>} tags in this model's chat content are read as reasoning. */
  public boolean thinkTags() {
    return compatFlag(THINK_TAGS, true);
  }

  /** A compat flag, or {@code fallback} when it is not set. */
  public boolean compatFlag(String name, boolean fallback) {
    return compat != null && compat.hasNonNull(name) ? compat.get(name).asBoolean(fallback) : fallback;
  }

  @Override
  public String toString() {
    return "Model[ref=" + ref() + ", name=" + name + ", api=" + api + ", reasoning=" + reasoning + ", input=" + input
        + ", cost=" + cost + ", contextWindow=" + contextWindow + ", contextTokens=" + contextTokens
        + ", maxTokens=" + maxTokens + ", headers=" + Secrets.maskedValues(headers) + ", origin=" + origin
        + ", provider=" + provider + "]";
  }

  /** Prices in US dollars per million tokens. */
  public record Cost(double input, double output, double cacheRead, double cacheWrite) {
    public static final Cost FREE = new Cost(0, 0, 0, 0);

    public double dollars(long inputTokens, long outputTokens, long cachedTokens) {
      long uncached = Math.max(0, inputTokens - cachedTokens);
      return (uncached * input + cachedTokens * cacheRead + outputTokens * output) / 1_000_000.0;
    }
  }
}
