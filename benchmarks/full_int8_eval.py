"""Why ``to_tflite`` offers no full-integer ``float_layers="int8"``: evidence.

Trains small_cnn on Fashion-MNIST (10,000 images, 2 epochs, as
tests/test_fmnist_e2e.py) and exports it three ways:

* ``float32`` / ``int8_weights``: ``sttn.export.to_tflite(float_layers=...)``;
* ``full int8``: the same export graph through the stock converter with a
  representative dataset (200 training images) and our kernels registered
  for calibration through the private ``target_spec._experimental_custom_op_registerers``.

Prints, for each: file size, argmax agreement with Keras and accuracy on the
10,000 test images, and the median batch-1 invoke time (our kernels, one
thread). Usage: ``python benchmarks/full_int8_eval.py``.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import sttn_keras as sttn  # noqa: E402
from sttn_keras.export import keras_to_tflite, native_library  # noqa: E402


def full_int8(model, rep):
    lib = native_library.library()

    def registerer(address):
        error = ctypes.create_string_buffer(512)
        if lib.sttn_host_register(address, 1, error, 512) != 0:
            raise RuntimeError(error.value.decode())

    c = tf.lite.TFLiteConverter.from_keras_model(
        keras_to_tflite.build_export_model(model)
    )
    c.allow_custom_ops = True
    c.optimizations = [tf.lite.Optimize.DEFAULT]
    c.target_spec._experimental_custom_op_registerers = [registerer]
    c.representative_dataset = lambda: ([rep[i : i + 1]] for i in range(len(rep)))
    with contextlib.redirect_stdout(io.StringIO()):
        return bytes(c.convert())


def main():
    (x, y), (xt, yt) = sttn.datasets.load_fashion_mnist()
    prep = lambda a: (a.astype("float32") / 255.0).reshape(len(a), 28, 28, 1)  # noqa: E731
    x, y, xt = prep(x[:10000]), y[:10000].astype("int32"), prep(xt)
    keras.utils.set_random_seed(0)
    model = sttn.models.small_cnn()
    steps = 2 * int(np.ceil(len(x) / 128))
    model.compile(
        keras.optimizers.Adam(sttn.training.cosine_schedule(2e-3, steps)),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, batch_size=128, epochs=2, verbose=0)
    ker = keras.ops.convert_to_numpy(
        model.predict(xt, batch_size=500, verbose=0)
    ).argmax(1)
    files = {
        "float32": sttn.export.to_tflite(model, float_layers="float32"),
        "int8_weights": sttn.export.to_tflite(model, float_layers="int8_weights"),
        "full int8": full_int8(model, x[:200]),
    }
    print(f"keras accuracy {np.mean(ker == yt):.4f}")
    for name, data in files.items():
        interp = sttn.export.Interpreter(data)
        tfl = interp.predict(xt, batch_size=500).argmax(1)
        times = []
        for _ in range(200):
            t = time.perf_counter()
            interp.predict(xt[:1])
            times.append(time.perf_counter() - t)
        print(
            f"{name:13s} {len(data):8d} bytes  agreement {np.mean(tfl == ker):.4f}  "
            f"accuracy {np.mean(tfl == yt):.4f}  invoke {1e3 * statistics.median(times):.3f} ms  "
            f"ops {sttn.export.op_histogram(data)}"
        )


if __name__ == "__main__":
    main()
