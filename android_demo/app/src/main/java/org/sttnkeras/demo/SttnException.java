package org.sttnkeras.demo;

/**
 * A failure reported by the TFLite runtime or by the sttn kernels: an invalid
 * model file, an op no registration resolves, a Prepare or Invoke error. The
 * message carries the runtime's own text.
 */
public class SttnException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /**
   * Creates the exception.
   *
   * @param message what failed, with the runtime's message
   */
  public SttnException(String message) {
    super(message);
  }
}
