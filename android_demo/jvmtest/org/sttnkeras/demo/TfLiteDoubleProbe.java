package org.sttnkeras.demo;

/**
 * Reads what the TEST DOUBLE of the TFLite C API (android_demo/test_double)
 * recorded. Exists only in the JVM tests; the app never has it.
 */
final class TfLiteDoubleProbe {
  private TfLiteDoubleProbe() {}

  /** Thread count the last interpreter was built with (-2: none built). */
  static native int lastNumThreads();

  /** Custom names of the operators added to the last interpreter options. */
  static native String[] lastRegisteredOps();

  /** Invalid registrations seen so far (empty: none). */
  static native String registrationProblems();

  /** Live models + interpreter options + interpreters (0 when all freed). */
  static native int liveObjects();
}
