package dev.talon.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The reader MetricsTest trusts: it takes the format's grammar and refuses what breaks it. */
class PrometheusTextTest {
  static final String HISTOGRAM = """
      # HELP t_seconds Time.
      # TYPE t_seconds histogram
      t_seconds_bucket{model="a",le="0.5"} 1.0
      t_seconds_bucket{model="a",le="+Inf"} 2.0
      t_seconds_count{model="a"} 2
      t_seconds_sum{model="a"} 1.5
      """;

  @Test
  void readsFamiliesLabelsAndValues() {
    PrometheusText text = PrometheusText.parse("""
        # HELP c_total A \\\\ counter\\nover two lines.
        # TYPE c_total counter
        c_total{model="lm/x",reason="a \\"quoted\\" \\\\ value"} 3.0
        c_total{model="other",reason="b"} 1.5e2
        # HELP g A gauge.
        # TYPE g gauge
        g NaN
        """ + HISTOGRAM);
    assertEquals(3, text.value("c_total", "model", "lm/x", "reason", "a \"quoted\" \\ value"));
    assertEquals(150, text.value("c_total", "reason", "b", "model", "other"));
    assertTrue(Double.isNaN(text.value("g")));
    assertEquals(2, text.value("t_seconds_bucket", "model", "a", "le", "+Inf"));
    assertEquals(0, text.value("c_total", "model", "absent"));
  }

  @Test
  void refusesWhatBreaksTheFormat() {
    for (String bad : new String[] {
        "# TYPE x gauge\nx 1\n", // no HELP
        "# HELP x X.\nx 1\n", // no TYPE before the sample
        "# HELP x X.\n# TYPE x gauge\nx one\n", // not a float
        "# HELP x X.\n# TYPE x gauge\nx{a=\"1\" b=\"2\"} 1\n", // labels without a comma
        "# HELP x X.\n# TYPE x gauge\nx{1a=\"1\"} 1\n", // a bad label name
        "# HELP x X.\n# TYPE x gauge\ny 1\n", // a sample of another family
        "# HELP x X.\n# TYPE x gauge\nx 1\nx 2\n", // the same series twice
        "# HELP x X.\n# TYPE x gauge\nx 1", // no final line feed
        "# HELP x X.\n# TYPE x gauge\n\nx 1\n", // an empty line
        HISTOGRAM.replace("le=\"0.5\"} 1.0", "le=\"0.5\"} 3.0"), // not cumulative
        HISTOGRAM.replace("+Inf", "9"), // no +Inf bucket
        HISTOGRAM.replace("_count{model=\"a\"} 2", "_count{model=\"a\"} 3"), // +Inf is not the count
    }) {
      assertThrows(IllegalArgumentException.class, () -> PrometheusText.parse(bad), bad);
    }
  }
}
