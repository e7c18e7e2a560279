package org.sttnkeras.demo;

import android.app.Activity;
import android.content.Intent;
import android.graphics.Bitmap;
import android.graphics.BitmapFactory;
import android.net.Uri;
import android.os.Bundle;
import android.view.View;
import android.widget.Button;
import android.widget.ImageView;
import android.widget.TextView;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Classifies a bundled Fashion-MNIST image, or one picked from the gallery,
 * with the STTN model (sttn ternary ops) and the float32 model of the same
 * architecture side by side: top-3 classes with probabilities and the median
 * latency over {@link #NUM_RUNS} runs. Inference runs on a background thread.
 */
public class MainActivity extends Activity {
  /** Timed runs per model and image (after one warm-up run). */
  public static final int NUM_RUNS = 50;
  /** Threads given to each interpreter. */
  public static final int NUM_THREADS = 1;

  private static final int PICK_IMAGE = 1;
  private static final String STTN_MODEL = "fmnist_sttn.tflite";
  private static final String FLOAT_MODEL = "fmnist_float32.tflite";

  private final ExecutorService worker = Executors.newSingleThreadExecutor();
  // Written once by the worker when the list is read, then only read.
  private volatile List<String> imageNames = new ArrayList<String>();
  private volatile List<String> imageLabels = new ArrayList<String>();
  private int imageIndex = 0;  // UI thread only.
  private SttnInterpreter sttn;
  private SttnInterpreter float32;

  private ImageView imageView;
  private TextView caption;
  private TextView sttnResult;
  private TextView floatResult;

  @Override
  protected void onCreate(Bundle savedInstanceState) {
    super.onCreate(savedInstanceState);
    setContentView(R.layout.activity_main);
    imageView = (ImageView) findViewById(R.id.image);
    caption = (TextView) findViewById(R.id.caption);
    sttnResult = (TextView) findViewById(R.id.sttn_result);
    floatResult = (TextView) findViewById(R.id.float_result);
    Button next = (Button) findViewById(R.id.next_image);
    Button pick = (Button) findViewById(R.id.pick_image);
    next.setOnClickListener(new View.OnClickListener() {
      @Override
      public void onClick(View v) {
        imageIndex++;
        classifyBundled();
      }
    });
    pick.setOnClickListener(new View.OnClickListener() {
      @Override
      public void onClick(View v) {
        Intent intent = new Intent(Intent.ACTION_GET_CONTENT);
        intent.setType("image/*");
        startActivityForResult(intent, PICK_IMAGE);
      }
    });
    worker.execute(new Runnable() {
      @Override
      public void run() {
        try {
          readImageList();
          sttn = new SttnInterpreter(readAsset(STTN_MODEL), NUM_THREADS);
          float32 = new SttnInterpreter(readAsset(FLOAT_MODEL), NUM_THREADS);
        } catch (IOException | RuntimeException e) {
          showError("Could not load the models: " + e.getMessage());
          return;
        } catch (LinkageError e) {
          // libsttn_jni.so or a C API function of the runtime is missing
          // (README.md: which library exports each function).
          showError("Could not load the native library: " + e);
          return;
        }
        runOnUiThread(new Runnable() {
          @Override
          public void run() {
            classifyBundled();
          }
        });
      }
    });
  }

  @Override
  protected void onDestroy() {
    worker.execute(new Runnable() {
      @Override
      public void run() {
        if (sttn != null) {
          sttn.close();
        }
        if (float32 != null) {
          float32.close();
        }
      }
    });
    worker.shutdown();
    super.onDestroy();
  }

  @Override
  protected void onActivityResult(int requestCode, int resultCode, Intent data) {
    super.onActivityResult(requestCode, resultCode, data);
    if (requestCode != PICK_IMAGE || resultCode != RESULT_OK || data == null) {
      return;
    }
    final Uri uri = data.getData();
    sttnResult.setText("Loading…");
    floatResult.setText("");
    worker.execute(new Runnable() {
      @Override
      public void run() {
        Bitmap bitmap;
        try {
          bitmap = decodeBounded(uri);
        } catch (IOException e) {
          showError("Could not read " + uri + ": " + e.getMessage());
          return;
        }
        if (bitmap == null) {
          showError("Not an image: " + uri);
          return;
        }
        classifyOnWorker(bitmap, "gallery image (inverted if its background is light)", true);
      }
    });
  }

  private void classifyBundled() {
    List<String> names = imageNames;
    List<String> labels = imageLabels;
    if (names.isEmpty()) {
      return;
    }
    imageIndex %= names.size();
    final String name = names.get(imageIndex);
    final String title = name + " (true class: " + labels.get(imageIndex) + ")";
    worker.execute(new Runnable() {
      @Override
      public void run() {
        Bitmap bitmap;
        try (InputStream in = getAssets().open("images/" + name)) {
          bitmap = BitmapFactory.decodeStream(in);
        } catch (IOException e) {
          showError("Could not read images/" + name + ": " + e.getMessage());
          return;
        }
        classifyOnWorker(bitmap, title, false);
      }
    });
  }

  /** Decodes a picked image, subsampled so that its longer side is <= 512 px. */
  private Bitmap decodeBounded(Uri uri) throws IOException {
    BitmapFactory.Options bounds = new BitmapFactory.Options();
    bounds.inJustDecodeBounds = true;
    try (InputStream in = getContentResolver().openInputStream(uri)) {
      BitmapFactory.decodeStream(in, null, bounds);
    }
    BitmapFactory.Options options = new BitmapFactory.Options();
    options.inSampleSize = 1;
    while (Math.max(bounds.outWidth, bounds.outHeight) / options.inSampleSize > 512) {
      options.inSampleSize *= 2;
    }
    try (InputStream in = getContentResolver().openInputStream(uri)) {
      return BitmapFactory.decodeStream(in, null, options);
    }
  }

  /** Preprocesses and runs both models on the worker thread, then shows the results. */
  private void classifyOnWorker(final Bitmap bitmap, final String title, boolean autoInvert) {
    int w = bitmap.getWidth();
    int h = bitmap.getHeight();
    int[] argb = new int[w * h];
    bitmap.getPixels(argb, 0, w, 0, 0, w, h);
    float[] input;
    try {
      input = Preprocess.fromArgb(argb, w, h, autoInvert);
    } catch (IllegalArgumentException e) {
      showError("Could not preprocess the image: " + e.getMessage());
      return;
    }
    final String s = describe("STTN (ternary ops)", sttn, input);
    final String f = describe("float32", float32, input);
    runOnUiThread(new Runnable() {
      @Override
      public void run() {
        imageView.setImageBitmap(bitmap);
        caption.setText(title);
        sttnResult.setText(s);
        floatResult.setText(f);
      }
    });
  }

  /** Runs one model NUM_RUNS times (worker thread) and formats the result. */
  private static String describe(String title, SttnInterpreter model, float[] input) {
    if (model == null) {
      return title + ": model not loaded";
    }
    try {
      float[] logits = model.run(input);  // Warm-up.
      long[] times = new long[NUM_RUNS];
      for (int i = 0; i < NUM_RUNS; ++i) {
        long start = System.nanoTime();
        model.run(input, logits);
        times[i] = System.nanoTime() - start;
      }
      StringBuilder sb = new StringBuilder(title).append('\n');
      for (Predictions.Entry e : Predictions.topK(Predictions.softmax(logits), 3)) {
        sb.append(String.format(Locale.US, "%-12s %5.1f%%%n",
            FashionMnist.LABELS[e.index], 100 * e.probability));
      }
      sb.append(String.format(Locale.US, "median %.3f ms over %d runs, %d thread(s)",
          Predictions.medianMillis(times), NUM_RUNS, NUM_THREADS));
      return sb.toString();
    } catch (RuntimeException e) {
      return title + ": " + e.getMessage();
    }
  }

  private void readImageList() throws IOException {
    String text = new String(readAsset("images/labels.csv"), "UTF-8");
    List<String> names = new ArrayList<String>();
    List<String> labels = new ArrayList<String>();
    for (String line : text.split("\n")) {
      String[] parts = line.trim().split(",");
      if (parts.length >= 2 && !parts[0].equals("file")) {
        names.add(parts[0]);
        labels.add(FashionMnist.LABELS[Integer.parseInt(parts[1])]);
      }
    }
    if (names.isEmpty()) {
      throw new IOException("images/labels.csv lists no image");
    }
    imageLabels = labels;
    imageNames = names;
  }

  private byte[] readAsset(String name) throws IOException {
    try (InputStream in = getAssets().open(name)) {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      byte[] buffer = new byte[1 << 16];
      int n;
      while ((n = in.read(buffer)) > 0) {
        out.write(buffer, 0, n);
      }
      return out.toByteArray();
    }
  }

  private void showError(final String message) {
    runOnUiThread(new Runnable() {
      @Override
      public void run() {
        sttnResult.setText(message);
        floatResult.setText("");
      }
    });
  }
}
