package dev.talon.config;

import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;

/** The wire protocol a provider or model speaks, named as in OpenClaw's {@code api} key. */
public enum Api {
  OPENAI_RESPONSES("openai-responses"),
  OPENAI_COMPLETIONS("openai-completions"),
  ANTHROPIC_MESSAGES("anthropic-messages");

  private final String configName;

  Api(String configName) {
    this.configName = configName;
  }

  public String configName() {
    return configName;
  }

  public static Optional<Api> fromConfigName(String name) {
    return Arrays.stream(values()).filter(api -> api.configName.equals(name)).findFirst();
  }

  public static String supportedNames() {
    return Arrays.stream(values()).map(api -> '"' + api.configName + '"').collect(Collectors.joining(", "));
  }

  @Override
  public String toString() {
    return configName;
  }
}
