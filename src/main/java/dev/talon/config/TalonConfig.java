package dev.talon.config;

import java.util.List;

/**
 * A loaded, validated config file: the model catalog plus Talon's own settings.
 *
 * @param notices keys kept but ignored, and other non-fatal findings
 */
public record TalonConfig(
    String source, ModelCatalog catalog, GatewaySettings gateway, TalonSettings talon, List<ConfigProblem> notices) {

  public TalonConfig {
    notices = List.copyOf(notices);
  }
}
