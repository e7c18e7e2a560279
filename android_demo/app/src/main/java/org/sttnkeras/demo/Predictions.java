package org.sttnkeras.demo;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** Softmax, top-k and the latency median, in plain Java (tested on a JVM). */
public final class Predictions {

  /** One class with its probability. */
  public static final class Entry {
    /** Class index into the label list. */
    public final int index;
    /** Softmax probability in [0, 1]. */
    public final float probability;

    Entry(int index, float probability) {
      this.index = index;
      this.probability = probability;
    }
  }

  private Predictions() {}

  /**
   * Softmax of logits (the demo's models output logits), computed stably.
   *
   * @param logits at least one finite value
   * @return probabilities summing to 1
   */
  public static float[] softmax(float[] logits) {
    if (logits == null || logits.length == 0) {
      throw new IllegalArgumentException("softmax needs at least one logit; received none");
    }
    float max = Float.NEGATIVE_INFINITY;
    for (float v : logits) {
      max = Math.max(max, v);
    }
    double sum = 0;
    double[] e = new double[logits.length];
    for (int i = 0; i < logits.length; ++i) {
      e[i] = Math.exp(logits[i] - max);
      sum += e[i];
    }
    float[] out = new float[logits.length];
    for (int i = 0; i < logits.length; ++i) {
      out[i] = (float) (e[i] / sum);
    }
    return out;
  }

  /**
   * The k largest probabilities, largest first; ties keep the lower index.
   *
   * @param probabilities class probabilities
   * @param k how many, 1..probabilities.length
   */
  public static List<Entry> topK(float[] probabilities, int k) {
    if (probabilities == null || k < 1 || k > probabilities.length) {
      throw new IllegalArgumentException(
          "k must be in 1.." + (probabilities == null ? 0 : probabilities.length)
              + "; received " + k);
    }
    List<Entry> all = new ArrayList<Entry>();
    for (int i = 0; i < probabilities.length; ++i) {
      all.add(new Entry(i, probabilities[i]));
    }
    Collections.sort(all, (a, b) -> {
      int c = Float.compare(b.probability, a.probability);
      return c != 0 ? c : Integer.compare(a.index, b.index);
    });
    return new ArrayList<Entry>(all.subList(0, k));
  }

  /**
   * Median of latencies in nanoseconds (mean of the middle two for an even
   * count), in milliseconds.
   */
  public static double medianMillis(long[] nanos) {
    if (nanos == null || nanos.length == 0) {
      throw new IllegalArgumentException("medianMillis needs at least one time; received none");
    }
    long[] s = nanos.clone();
    java.util.Arrays.sort(s);
    int n = s.length;
    double median = n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2.0;
    return median / 1e6;
  }
}
