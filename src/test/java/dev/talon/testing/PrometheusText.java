package dev.talon.testing;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A strict reader of Prometheus' text exposition format (version 0.0.4), for tests: the Java
 * client 1.x writes it but has no reader. Every line must be a {@code # HELP}, a {@code # TYPE}
 * or a sample of the family last declared; names, labels and values must follow the format's
 * grammar; a histogram's buckets must be cumulative and end with {@code le="+Inf"} equal to its
 * {@code _count}. Anything else throws {@link IllegalArgumentException} naming the line.
 */
public final class PrometheusText {
  private static final String NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
  private static final Pattern HELP = Pattern.compile("# HELP (" + NAME + ") ((?:[^\\\\\\n]|\\\\[\\\\n])*)");
  private static final Pattern TYPE = Pattern.compile("# TYPE (" + NAME + ") (counter|gauge|histogram|summary|untyped)");
  private static final Pattern SAMPLE = Pattern.compile("(" + NAME + ")(?:\\{(.*)})? (\\S+)(?: (-?[0-9]+))?");
  private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\\\n]|\\\\[\\\\\"n])*)\"");
  private static final Pattern FLOAT = Pattern.compile("[+-]?(?:[0-9]+(?:\\.[0-9]*)?|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
      + "|[+-]?Inf|NaN");

  /** One metric family: its type, help and samples (name and labels, to value). */
  public record Family(String name, String type, String help, Map<Sample, Double> samples) {}

  /** A sample's name and labels, the labels in name order. */
  public record Sample(String name, Map<String, String> labels) {
    public static Sample of(String name, String... labelPairs) {
      Map<String, String> labels = new TreeMap<>();
      for (int i = 0; i < labelPairs.length; i += 2) {
        labels.put(labelPairs[i], labelPairs[i + 1]);
      }
      return new Sample(name, labels);
    }
  }

  private final Map<String, Family> families;

  private PrometheusText(Map<String, Family> families) {
    this.families = families;
  }

  public Map<String, Family> families() {
    return families;
  }

  /** The value of the sample {@code name} with exactly these labels, or 0 when there is none (yet). */
  public double value(String name, String... labelPairs) {
    Sample wanted = Sample.of(name, labelPairs);
    return families.values().stream().map(family -> family.samples().get(wanted)).filter(v -> v != null)
        .findFirst().orElse(0.0);
  }

  public static PrometheusText parse(String text) {
    if (!text.isEmpty() && !text.endsWith("\n")) {
      throw new IllegalArgumentException("the last line has no line feed");
    }
    Map<String, Family> families = new LinkedHashMap<>();
    Map<String, String> helps = new LinkedHashMap<>();
    Family current = null;
    String[] lines = text.split("\n", -1);
    for (int i = 0; i < lines.length - 1; i++) {
      String line = lines[i];
      String where = "line " + (i + 1) + " '" + line + "': ";
      Matcher m;
      if ((m = HELP.matcher(line)).matches()) {
        if (helps.put(m.group(1), m.group(2)) != null) {
          throw new IllegalArgumentException(where + "a second HELP for " + m.group(1));
        }
      } else if ((m = TYPE.matcher(line)).matches()) {
        String name = m.group(1);
        if (families.containsKey(name)) {
          throw new IllegalArgumentException(where + "a second TYPE for " + name);
        }
        current = new Family(name, m.group(2), helps.get(name), new LinkedHashMap<>());
        families.put(name, current);
      } else if (line.startsWith("#")) {
        throw new IllegalArgumentException(where + "a comment that is neither HELP nor TYPE");
      } else if ((m = SAMPLE.matcher(line)).matches()) {
        if (current == null || !belongs(m.group(1), current)) {
          throw new IllegalArgumentException(where + "a sample outside its family's TYPE"
              + (current == null ? "" : " (" + current.name() + ", " + current.type() + ")"));
        }
        if (!FLOAT.matcher(m.group(3)).matches()) {
          throw new IllegalArgumentException(where + "not a float: " + m.group(3));
        }
        Sample sample = new Sample(m.group(1), labels(m.group(2) == null ? "" : m.group(2), where));
        if (current.samples().put(sample, Double.parseDouble(m.group(3).replace("Inf", "Infinity"))) != null) {
          throw new IllegalArgumentException(where + "a second sample with these labels");
        }
      } else {
        throw new IllegalArgumentException(where + "neither a comment nor a sample");
      }
    }
    for (Family family : families.values()) {
      if (family.help() == null) {
        throw new IllegalArgumentException(family.name() + " has no HELP");
      }
      if (family.type().equals("histogram")) {
        checkBuckets(family);
      }
    }
    return new PrometheusText(families);
  }

  /** Whether a sample named {@code name} may stand in {@code family}. */
  private static boolean belongs(String name, Family family) {
    String base = family.name();
    return switch (family.type()) {
      case "histogram" -> Set.of(base + "_bucket", base + "_sum", base + "_count", base + "_created").contains(name);
      case "summary" -> Set.of(base, base + "_sum", base + "_count", base + "_created").contains(name);
      case "counter" -> name.equals(base) || name.equals(base + "_created");
      default -> name.equals(base);
    };
  }

  private static Map<String, String> labels(String text, String where) {
    Map<String, String> labels = new TreeMap<>();
    Matcher m = LABEL.matcher(text);
    int at = 0;
    while (at < text.length()) {
      if (!m.find(at) || m.start() != at) {
        throw new IllegalArgumentException(where + "bad label syntax at '" + text.substring(at) + "'");
      }
      String value = m.group(2).replace("\\n", "\n").replace("\\\"", "\"").replace("\\\\", "\\");
      if (labels.put(m.group(1), value) != null) {
        throw new IllegalArgumentException(where + "label " + m.group(1) + " twice");
      }
      at = m.end();
      if (at < text.length()) {
        if (text.charAt(at) != ',') {
          throw new IllegalArgumentException(where + "labels must be separated by commas");
        }
        at++;
      }
    }
    return labels;
  }

  /** Per series (its labels but le): buckets that only grow, the last one +Inf and equal to the count. */
  private static void checkBuckets(Family family) {
    Map<Map<String, String>, List<double[]>> series = new LinkedHashMap<>();
    family.samples().forEach((sample, value) -> {
      if (sample.name().endsWith("_bucket")) {
        Map<String, String> others = new TreeMap<>(sample.labels());
        String le = others.remove("le");
        if (le == null || !FLOAT.matcher(le).matches()) {
          throw new IllegalArgumentException(family.name() + ": a bucket without a numeric le: " + sample);
        }
        series.computeIfAbsent(others, k -> new ArrayList<>())
            .add(new double[] {Double.parseDouble(le.replace("Inf", "Infinity")), value});
      }
    });
    if (series.isEmpty() && family.samples().keySet().stream().anyMatch(s -> s.name().endsWith("_count"))) {
      throw new IllegalArgumentException(family.name() + ": a count without buckets");
    }
    series.forEach((labels, buckets) -> {
      buckets.sort(Comparator.comparingDouble(bucket -> bucket[0]));
      for (int i = 1; i < buckets.size(); i++) {
        if (buckets.get(i)[1] < buckets.get(i - 1)[1]) {
          throw new IllegalArgumentException(family.name() + labels + ": buckets are not cumulative at le="
              + buckets.get(i)[0]);
        }
      }
      double[] last = buckets.get(buckets.size() - 1);
      if (last[0] != Double.POSITIVE_INFINITY) {
        throw new IllegalArgumentException(family.name() + labels + ": no le=\"+Inf\" bucket");
      }
      Double count = family.samples().get(new Sample(family.name() + "_count", labels));
      if (count == null || count != last[1]) {
        throw new IllegalArgumentException(family.name() + labels + ": the +Inf bucket (" + last[1]
            + ") is not the count (" + count + ")");
      }
      if (!family.samples().containsKey(new Sample(family.name() + "_sum", labels))) {
        throw new IllegalArgumentException(family.name() + labels + ": no _sum");
      }
    });
  }
}
