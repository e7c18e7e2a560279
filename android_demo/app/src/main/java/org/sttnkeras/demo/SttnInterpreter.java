package org.sttnkeras.demo;

/**
 * A TFLite interpreter with the sttn ternary custom ops registered, run
 * through the TFLite C API by the native library {@code libsttn_jni.so}
 * (android_demo/native). Works for STTN models and for plain float models
 * alike. Not thread-safe for concurrent runs; the methods are synchronized.
 *
 * <p>Errors: a bad model file, an op no registration resolves, or a kernel
 * failure throws {@link SttnException} with the runtime's message; a wrong
 * input or output size throws {@link IllegalArgumentException} naming the
 * expected and the received size; using a closed interpreter throws
 * {@link IllegalStateException}.
 */
public final class SttnInterpreter implements AutoCloseable {

  /** Which registration of the sttn ops to use. */
  public enum Kernel {
    /** Plain loops: the oracle. */
    REFERENCE(0),
    /** The fastest ISA path this CPU offers (the optimized kernel). */
    OPTIMIZED(1);

    final int value;

    Kernel(int value) {
      this.value = value;
    }
  }

  /**
   * System property naming the absolute path of the JNI library. Used on a
   * desktop JVM (tests); on Android the library is loaded by name.
   */
  public static final String LIBRARY_PATH_PROPERTY = "sttn.jni.library";

  static {
    String path = System.getProperty(LIBRARY_PATH_PROPERTY);
    if (path != null && !path.isEmpty()) {
      System.load(path);
    } else {
      System.loadLibrary("sttn_jni");
    }
  }

  private long handle;
  private final int[] inputShape;
  private final int[] outputShape;

  /**
   * Builds an interpreter with the optimized sttn kernels.
   *
   * @param model the .tflite file's bytes
   * @param numThreads threads for the runtime (and the sttn kernels, when they
   *     have a thread pool); positive, or -1 for the runtime's default
   */
  public SttnInterpreter(byte[] model, int numThreads) {
    this(model, numThreads, Kernel.OPTIMIZED);
  }

  /**
   * Builds an interpreter.
   *
   * @param model the .tflite file's bytes
   * @param numThreads positive, or -1 for the runtime's default
   * @param kernel which registration of the sttn ops to use
   */
  public SttnInterpreter(byte[] model, int numThreads, Kernel kernel) {
    if (model == null) {
      throw new IllegalArgumentException("model must not be null");
    }
    if (kernel == null) {
      throw new IllegalArgumentException("kernel must not be null");
    }
    handle = nativeCreate(model, numThreads, kernel.value);
    try {
      inputShape = nativeShape(handle, true, 0);
      outputShape = nativeShape(handle, false, 0);
    } catch (RuntimeException e) {
      nativeDelete(handle);
      handle = 0;
      throw e;
    }
  }

  /** Returns the shape of input 0, e.g. {@code [1, 28, 28, 1]}. */
  public int[] inputShape() {
    return inputShape.clone();
  }

  /** Returns the shape of output 0, e.g. {@code [1, 10]}. */
  public int[] outputShape() {
    return outputShape.clone();
  }

  /** Returns the number of float values input 0 takes. */
  public int inputSize() {
    return product(inputShape);
  }

  /** Returns the number of float values output 0 holds. */
  public int outputSize() {
    return product(outputShape);
  }

  /**
   * Runs the model once.
   *
   * @param input exactly {@link #inputSize()} float32 values, row-major
   * @return the {@link #outputSize()} values of output 0
   */
  public float[] run(float[] input) {
    float[] output = new float[outputSize()];
    run(input, output);
    return output;
  }

  /**
   * Runs the model once into a caller-owned array (no allocation).
   *
   * @param input exactly {@link #inputSize()} float32 values, row-major
   * @param output an array of exactly {@link #outputSize()} values
   */
  public synchronized void run(float[] input, float[] output) {
    nativeRun(checkOpen(), input, output);
  }

  /** Returns the custom names of the sttn ops registered, e.g. "SttnConv2D". */
  public synchronized String[] registeredOps() {
    return nativeRegisteredOps(checkOpen());
  }

  /** Returns the op format version the compiled kernels implement. */
  public static int opFormatVersion() {
    return nativeOpFormatVersion();
  }

  /** Frees the native interpreter; further calls throw IllegalStateException. */
  @Override
  public synchronized void close() {
    if (handle != 0) {
      nativeDelete(handle);
      handle = 0;
    }
  }

  private long checkOpen() {
    if (handle == 0) {
      throw new IllegalStateException("the interpreter is closed");
    }
    return handle;
  }

  private static int product(int[] shape) {
    int n = 1;
    for (int d : shape) {
      n *= d;
    }
    return n;
  }

  private static native long nativeCreate(byte[] model, int numThreads, int kernelType);

  private static native void nativeDelete(long handle);

  private static native int[] nativeShape(long handle, boolean input, int index);

  private static native void nativeRun(long handle, float[] input, float[] output);

  private static native String[] nativeRegisteredOps(long handle);

  private static native int nativeOpFormatVersion();
}
