package org.sttnkeras.demo;

import java.awt.image.BufferedImage;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * JVM tests of the app's plain-Java classes and of the JNI layer, driven by
 * tests/test_android.py (no JUnit needed: exit status 0 means every check
 * passed; a failure prints what differed and exits 1).
 *
 * <p>The JNI library is linked against a TEST DOUBLE of the TFLite C API
 * (android_demo/test_double), not a TFLite runtime: models are parsed for
 * their ops and I/O tensors, and Invoke writes output[j] = mean(input) + j
 * instead of running the graph.
 *
 * <pre>
 * java -Dsttn.jni.library=.../libsttn_jni.so org.sttnkeras.demo.JvmTests \
 *     jni MODEL_DIR DOUBLE_LIBRARY
 * java org.sttnkeras.demo.JvmTests units
 * java org.sttnkeras.demo.JvmTests preprocess IMAGE_DIR OUT_FILE
 * </pre>
 */
public final class JvmTests {
  private static int checks = 0;

  private JvmTests() {}

  /** Entry point; see the class comment for the subcommands. */
  public static void main(String[] args) throws Exception {
    try {
      if (args.length == 3 && args[0].equals("jni")) {
        System.load(new File(args[2]).getAbsolutePath());
        jni(new File(args[1]));
      } else if (args.length == 1 && args[0].equals("units")) {
        units();
      } else if (args.length == 3 && args[0].equals("preprocess")) {
        preprocess(new File(args[1]), new File(args[2]));
      } else {
        System.err.println("usage: JvmTests jni MODEL_DIR DOUBLE_LIB | units | "
            + "preprocess IMAGE_DIR OUT_FILE");
        System.exit(2);
      }
    } catch (AssertionError e) {
      System.err.println("FAILED: " + e.getMessage());
      System.exit(1);
    }
    System.out.println("OK " + checks + " checks");
  }

  private static void check(boolean condition, String what) {
    ++checks;
    if (!condition) {
      throw new AssertionError(what);
    }
  }

  /** Runs `body`, which must throw `type` with a message containing every part. */
  private static void expectThrows(Class<? extends Throwable> type, Runnable body,
      String... parts) {
    try {
      body.run();
    } catch (Throwable t) {
      check(type.isInstance(t), "expected " + type.getSimpleName() + ", got " + t);
      for (String part : parts) {
        check(t.getMessage() != null && t.getMessage().contains(part),
            "message '" + t.getMessage() + "' lacks '" + part + "'");
      }
      return;
    }
    throw new AssertionError("expected " + type.getSimpleName() + ", nothing was thrown");
  }

  private static byte[] read(File dir, String name) throws IOException {
    return Files.readAllBytes(new File(dir, name).toPath());
  }

  private static void jni(File models) throws IOException {
    final byte[] sttn = read(models, "sttn_ops.tflite");
    final byte[] unknown = read(models, "unknown_op.tflite");
    final byte[] intInput = read(models, "int_input.tflite");

    // Registration: every sttn op, under its custom name; the thread count.
    SttnInterpreter it = new SttnInterpreter(sttn, 3);
    String[] expected = {
      "SttnTernarize", "SttnConv2D", "SttnConv2DFloatIn", "SttnFullyConnected",
      "SttnFullyConnectedFloatIn", "SttnDepthwiseConv2D", "SttnDepthwiseConv2DFloatIn",
    };
    List<String> registered = Arrays.asList(TfLiteDoubleProbe.lastRegisteredOps());
    for (String name : expected) {
      check(registered.contains(name), name + " not registered; registered: " + registered);
    }
    check(Arrays.equals(it.registeredOps(), TfLiteDoubleProbe.lastRegisteredOps()),
        "registeredOps() differs from what the runtime received");
    check(TfLiteDoubleProbe.registrationProblems().isEmpty(),
        "invalid registrations: " + TfLiteDoubleProbe.registrationProblems());
    check(TfLiteDoubleProbe.lastNumThreads() == 3,
        "num_threads passed on: " + TfLiteDoubleProbe.lastNumThreads());
    check(SttnInterpreter.opFormatVersion() >= 1,
        "op format version " + SttnInterpreter.opFormatVersion());

    // Shapes, and data in and out (the double writes mean(input) + j).
    check(Arrays.equals(it.inputShape(), new int[] {1, 28, 28, 1}),
        "input shape " + Arrays.toString(it.inputShape()));
    check(Arrays.equals(it.outputShape(), new int[] {1, 10}),
        "output shape " + Arrays.toString(it.outputShape()));
    float[] input = new float[784];
    Arrays.fill(input, 0.5f);
    float[] out = it.run(input);
    for (int j = 0; j < 10; ++j) {
      check(out[j] == 0.5f + j, "output[" + j + "] = " + out[j]);
    }

    // Sizes are validated, with both numbers in the message.
    final SttnInterpreter open = it;
    expectThrows(IllegalArgumentException.class, () -> open.run(new float[783]),
        "784", "783");
    expectThrows(IllegalArgumentException.class,
        () -> open.run(new float[784], new float[9]), "10", "9");
    expectThrows(IllegalArgumentException.class, () -> open.run(null), "null");
    it.close();
    it.close();  // Idempotent.
    expectThrows(IllegalStateException.class, () -> open.run(new float[784]), "closed");

    // Errors from the runtime become exceptions carrying its message.
    expectThrows(SttnException.class,
        () -> new SttnInterpreter("not a model".getBytes(), 1), "not a valid",
        "Flatbuffer");
    expectThrows(SttnException.class, () -> new SttnInterpreter(unknown, 1),
        "Encountered unresolved custom op: NotAnSttnOp");
    expectThrows(IllegalArgumentException.class, () -> new SttnInterpreter(new byte[0], 1),
        "empty");
    expectThrows(IllegalArgumentException.class, () -> new SttnInterpreter(sttn, 0),
        "num_threads", "received 0");
    expectThrows(IllegalArgumentException.class, () -> new SttnInterpreter(null, 1), "null");
    expectThrows(IllegalArgumentException.class, () -> {
      try (SttnInterpreter ints = new SttnInterpreter(intInput, 1)) {
        ints.run(new float[4]);
      }
    }, "float32", "int32");

    // The reference kernels register too; -1 is the runtime's default.
    try (SttnInterpreter ref = new SttnInterpreter(sttn, -1, SttnInterpreter.Kernel.REFERENCE)) {
      check(ref.registeredOps().length == expected.length, "reference ops");
      check(TfLiteDoubleProbe.lastNumThreads() == -1, "num_threads -1 passed on");
    }
    // Every interpreter is closed and every failure path freed its objects.
    check(TfLiteDoubleProbe.liveObjects() == 0,
        "leaked native objects: " + TfLiteDoubleProbe.liveObjects());
  }

  private static void units() {
    float[] p = Predictions.softmax(new float[] {1f, 3f, 2f, 3f});
    float sum = 0;
    for (float v : p) {
      sum += v;
    }
    check(Math.abs(sum - 1f) < 1e-6f, "softmax sums to " + sum);
    List<Predictions.Entry> top = Predictions.topK(p, 3);
    check(top.get(0).index == 1 && top.get(1).index == 3 && top.get(2).index == 2,
        "topK order (ties: lower index first)");
    check(Predictions.softmax(new float[] {1000f, 0f})[0] == 1f, "softmax is stable");
    expectThrows(IllegalArgumentException.class, () -> Predictions.topK(p, 5), "received 5");
    check(Predictions.medianMillis(new long[] {3_000_000L, 1_000_000L, 2_000_000L}) == 2.0,
        "odd median");
    check(Predictions.medianMillis(new long[] {4_000_000L, 1_000_000L}) == 2.5, "even median");

    // Gray pixels: v / 255f exactly.
    byte[] gray = new byte[784];
    for (int i = 0; i < gray.length; ++i) {
      gray[i] = (byte) (i % 256);
    }
    float[] x = Preprocess.fromGray8(gray, 28, 28);
    check(x[255] == 1f && x[0] == 0f && x[128] == 128 / 255.0f, "gray scaling");
    expectThrows(IllegalArgumentException.class, () -> Preprocess.fromGray8(gray, 27, 28),
        "27x28");
    expectThrows(IllegalArgumentException.class,
        () -> Preprocess.fromArgb(new int[10], 4, 4, false), "16", "10");
    // Color and size: a light 56x56 image with a dark square is resized by
    // area averaging and inverted (light border).
    int[] argb = new int[56 * 56];
    for (int y = 0; y < 56; ++y) {
      for (int x2 = 0; x2 < 56; ++x2) {
        boolean inside = y >= 20 && y < 36 && x2 >= 20 && x2 < 36;
        argb[y * 56 + x2] = inside ? 0xff000000 : 0xffffffff;
      }
    }
    float[] inv = Preprocess.fromArgb(argb, 56, 56, true);
    check(inv[0] == 0f && inv[14 * 28 + 14] == 1f, "auto-invert of a light background");
    float[] noInv = Preprocess.fromArgb(argb, 56, 56, false);
    check(noInv[0] == 1f && noInv[14 * 28 + 14] == 0f, "no inversion when not asked");
    check(Preprocess.toGray(new int[] {0xff808080})[0] == (byte) 0x80, "gray luma exact");
  }

  /** Decodes each PNG listed in labels.csv as the app does, writes float32 LE. */
  private static void preprocess(File images, File outFile) throws IOException {
    String csv = new String(read(images, "labels.csv"), "UTF-8");
    try (FileOutputStream out = new FileOutputStream(outFile)) {
      for (String line : csv.split("\n")) {
        String[] parts = line.trim().split(",");
        if (parts.length < 3 || parts[0].equals("file")) {
          continue;
        }
        BufferedImage img = ImageIO.read(new File(images, parts[0]));
        int w = img.getWidth();
        int h = img.getHeight();
        int[] argb = img.getRGB(0, 0, w, h, null, 0, w);
        float[] x = Preprocess.fromArgb(argb, w, h, false);
        ByteBuffer buf = ByteBuffer.allocate(4 * x.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : x) {
          buf.putFloat(v);
        }
        out.write(buf.array());
        ++checks;
      }
    }
  }
}
