package org.sttnkeras.demo;

/**
 * Turns images into the model's input, exactly as {@code sttn_keras.demo}
 * prepares Fashion-MNIST for training and export: 28x28 gray pixels {@code v}
 * in 0..255 become float32 {@code v / 255f}, shape {@code [1, 28, 28, 1]},
 * row-major. Plain Java (no {@code android.*}), so it is tested on a JVM
 * against the Python preprocessing (tests/test_android.py): bit-identical for
 * 28x28 gray images, since one IEEE float32 division is what NumPy does too.
 *
 * <p>Images of another size or in color (the gallery) are first converted to
 * gray with integer BT.601 luma, resized by area averaging, and inverted when
 * their border is light, since Fashion-MNIST shows light objects on black.
 */
public final class Preprocess {
  /** Height and width of the model input. */
  public static final int SIZE = 28;

  private Preprocess() {}

  /**
   * Converts gray pixels of a 28x28 image to the model input.
   *
   * @param gray {@code width * height} pixels, row-major, unsigned 0..255
   * @param width must be 28
   * @param height must be 28
   * @return 784 float32 values {@code v / 255f}
   */
  public static float[] fromGray8(byte[] gray, int width, int height) {
    if (width != SIZE || height != SIZE) {
      throw new IllegalArgumentException(
          "fromGray8 takes a 28x28 image; received " + width + "x" + height);
    }
    if (gray == null || gray.length != width * height) {
      throw new IllegalArgumentException(
          "expected " + width * height + " gray pixels; received "
              + (gray == null ? "null" : String.valueOf(gray.length)));
    }
    float[] out = new float[gray.length];
    for (int i = 0; i < gray.length; ++i) {
      out[i] = (gray[i] & 0xff) / 255.0f;
    }
    return out;
  }

  /**
   * Converts ARGB pixels (as {@code Bitmap.getPixels} returns them) of any
   * size to the model input: gray, resized to 28x28, optionally inverted.
   *
   * @param argb {@code width * height} pixels, row-major
   * @param width image width, positive
   * @param height image height, positive
   * @param autoInvert invert when the border is mostly light
   * @return 784 float32 values in [0, 1]
   */
  public static float[] fromArgb(int[] argb, int width, int height, boolean autoInvert) {
    if (width <= 0 || height <= 0) {
      throw new IllegalArgumentException(
          "image size must be positive; received " + width + "x" + height);
    }
    if (argb == null || argb.length != width * height) {
      throw new IllegalArgumentException(
          "expected " + width * height + " ARGB pixels; received "
              + (argb == null ? "null" : String.valueOf(argb.length)));
    }
    byte[] gray = resizeArea(toGray(argb), width, height, SIZE, SIZE);
    if (autoInvert && borderMean(gray, SIZE, SIZE) > 127.5) {
      for (int i = 0; i < gray.length; ++i) {
        gray[i] = (byte) (255 - (gray[i] & 0xff));
      }
    }
    return fromGray8(gray, SIZE, SIZE);
  }

  /**
   * Gray value of each ARGB pixel: BT.601 luma in integers, composited over
   * black by alpha. Exact for gray pixels (r == g == b, opaque): returns r.
   */
  static byte[] toGray(int[] argb) {
    byte[] out = new byte[argb.length];
    for (int i = 0; i < argb.length; ++i) {
      int p = argb[i];
      int a = (p >>> 24) & 0xff;
      int r = (p >> 16) & 0xff;
      int g = (p >> 8) & 0xff;
      int b = p & 0xff;
      int y = (299 * r + 587 * g + 114 * b + 500) / 1000;
      out[i] = (byte) ((y * a + 127) / 255);
    }
    return out;
  }

  /**
   * Area-average resize of a gray image; the identity when sizes are equal.
   * Each output pixel is the rounded mean of the input area it covers,
   * weighted by coverage.
   */
  static byte[] resizeArea(byte[] gray, int w, int h, int outW, int outH) {
    if (w == outW && h == outH) {
      return gray.clone();
    }
    byte[] out = new byte[outW * outH];
    for (int oy = 0; oy < outH; ++oy) {
      double y0 = (double) oy * h / outH;
      double y1 = (double) (oy + 1) * h / outH;
      for (int ox = 0; ox < outW; ++ox) {
        double x0 = (double) ox * w / outW;
        double x1 = (double) (ox + 1) * w / outW;
        double sum = 0;
        double area = 0;
        for (int y = (int) Math.floor(y0); y < Math.min(h, (int) Math.ceil(y1)); ++y) {
          double wy = Math.min(y + 1, y1) - Math.max(y, y0);
          for (int x = (int) Math.floor(x0); x < Math.min(w, (int) Math.ceil(x1)); ++x) {
            double wx = Math.min(x + 1, x1) - Math.max(x, x0);
            sum += wx * wy * (gray[y * w + x] & 0xff);
            area += wx * wy;
          }
        }
        out[oy * outW + ox] = (byte) Math.min(255, Math.round(sum / area));
      }
    }
    return out;
  }

  private static double borderMean(byte[] gray, int w, int h) {
    double sum = 0;
    int n = 0;
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        if (y == 0 || x == 0 || y == h - 1 || x == w - 1) {
          sum += gray[y * w + x] & 0xff;
          ++n;
        }
      }
    }
    return sum / n;
  }
}
