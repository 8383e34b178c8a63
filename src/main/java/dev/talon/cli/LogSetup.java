package dev.talon.cli;

import ch.qos.logback.classic.ClassicConstants;
import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.encoder.PatternLayoutEncoder;
import ch.qos.logback.classic.spi.Configurator;
import ch.qos.logback.classic.spi.ConfiguratorRank;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.ConsoleAppender;
import ch.qos.logback.core.spi.ContextAwareBase;
import java.util.Map;
import org.slf4j.Logger;

/**
 * Talon's log: one line per event on stderr, a few chatty libraries turned down. Set up in code
 * rather than in a {@code logback.xml}, because reading XML loads logback's whole configuration
 * language and the JDK's XML parser, some 600 classes that every Talon process would carry for
 * the life of the process to read a dozen lines once.
 *
 * <p>A {@code logback.configurationFile} system property, or a {@code logback-test.xml} on the
 * class path, still wins: logback then reads that file as usual.
 */
@ConfiguratorRank(ConfiguratorRank.CUSTOM_NORMAL_PRIORITY)
public final class LogSetup extends ContextAwareBase implements Configurator {
  private static final String PATTERN = "%d{HH:mm:ss.SSS} %-5level %logger{24} - %msg%n";
  private static final Map<String, Level> QUIETER = Map.of(
      "com.zaxxer.hikari", Level.WARN,
      "slick", Level.WARN,
      // "Slf4jLogger started", logged past pekko.loglevel: noise in what models status and doctor print
      "org.apache.pekko.event.slf4j.Slf4jLogger", Level.WARN,
      // Talon logs each MCP server's start, failure and stderr itself; the SDK repeats them, with stack traces
      "io.modelcontextprotocol", Level.ERROR);

  @Override
  public ExecutionStatus configure(LoggerContext context) {
    if (System.getProperty(ClassicConstants.CONFIG_FILE_PROPERTY) != null
        || LogSetup.class.getClassLoader().getResource(ClassicConstants.TEST_AUTOCONFIG_FILE) != null) {
      return ExecutionStatus.INVOKE_NEXT_IF_ANY;
    }
    PatternLayoutEncoder encoder = new PatternLayoutEncoder();
    encoder.setContext(context);
    encoder.setPattern(PATTERN);
    encoder.start();
    ConsoleAppender<ILoggingEvent> stderr = new ConsoleAppender<>();
    stderr.setContext(context);
    stderr.setName("STDERR");
    stderr.setTarget("System.err");
    stderr.setEncoder(encoder);
    stderr.start();
    QUIETER.forEach((logger, level) -> context.getLogger(logger).setLevel(level));
    ch.qos.logback.classic.Logger root = context.getLogger(Logger.ROOT_LOGGER_NAME);
    root.setLevel(Level.INFO);
    root.addAppender(stderr);
    return ExecutionStatus.DO_NOT_INVOKE_NEXT_IF_ANY;
  }
}
