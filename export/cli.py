"""``sttn-export``: export a saved STTN Keras model to ``.tflite``.

Example::

    sttn-export --model model.keras --output model.tflite
    sttn-export --model model.keras --output small.tflite \
        --float_layers=int8_weights --weight_encoding=base3

Prints the op histogram of the result and its size next to a float32
TFLite export of the same architecture.
"""

from __future__ import annotations

import os
import sys

from absl import app, flags

FLAGS = flags.FLAGS

flags.DEFINE_string("model", None, "Path to a saved Keras model (.keras).")
flags.DEFINE_string("output", None, "Where to write the .tflite file.")
flags.DEFINE_enum("float_layers", "int8_weights", ["int8_weights", "float32"],
                  "How the layers that stay float (stem, classifier) store their "
                  "weights: int8_weights (int8 weights for the layers no ternary "
                  "activation follows, i.e. the classifier) or float32.")
flags.DEFINE_enum("weight_encoding", "base3", ["base3", "trit2"],
                  "Ternary weight packing: base3 (1.6 bits per weight) or trit2 "
                  "(2 bits per weight).")
flags.DEFINE_string("recalibrate_with", None,
                    "A .npy file of input images (batch axis first): re-estimate "
                    "the BatchNorm statistics on them before export "
                    "(sttn_keras.training.recalibrate_batchnorm).")
flags.DEFINE_bool("compare_float", True,
                  "Also convert the float32 equivalent and print the size ratio.")


def _format_size(n):
    return f"{n / 1024:.1f} KiB" if n < (1 << 20) else f"{n / (1 << 20):.2f} MiB"


def export_file(model_path, output_path, compare_float=True, print_fn=print, *,
                float_layers="int8_weights", weight_encoding="base3",
                recalibrate_with=None):
    """Loads ``model_path``, exports it, prints a report, returns the bytes.

    ``float_layers`` and ``weight_encoding`` are passed to
    :func:`sttn_keras.export.to_tflite`; ``recalibrate_with`` (a ``.npy``
    file of inputs) re-estimates the BatchNorm statistics first.

    Example:

    >>> export_file("m.keras", "m.tflite", weight_encoding="base3")  # doctest: +SKIP
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    import sttn_keras  # noqa: F401  (registers the layers for loading)
    from . import converter, inspect_model

    if not os.path.exists(model_path):
        raise FileNotFoundError(f"--model: no such file: {model_path!r}")
    model = keras.models.load_model(model_path, compile=False)
    if recalibrate_with:
        import numpy as np

        from sttn_keras import training

        print_fn(training.recalibrate_batchnorm(model, np.load(recalibrate_with)))
    data = converter.to_tflite(model, output_path, float_layers=float_layers,
                               weight_encoding=weight_encoding)
    hist = inspect_model.op_histogram(data)
    print_fn(f"Wrote {output_path} ({_format_size(len(data))}; float layers {float_layers}, "
             f"weight encoding {weight_encoding})")
    print_fn("Op histogram:")
    width = max(len(k) for k in hist)
    for name, count in sorted(hist.items(), key=lambda kv: (not kv[0].startswith("Sttn"), kv[0])):
        print_fn(f"  {name.ljust(width)}  {count}")
    if compare_float:
        float_size = len(converter.float_tflite(model))
        print_fn(
            f"Size: {_format_size(len(data))} vs {_format_size(float_size)} for float32 "
            f"TFLite ({float_size / len(data):.1f}x smaller)"
        )
    return data


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not FLAGS.model or not FLAGS.output:
        raise app.UsageError("Both --model and --output are required.")
    try:
        export_file(FLAGS.model, FLAGS.output, FLAGS.compare_float,
                    float_layers=FLAGS.float_layers, weight_encoding=FLAGS.weight_encoding,
                    recalibrate_with=FLAGS.recalibrate_with)
    except (ValueError, FileNotFoundError) as e:
        print(f"sttn-export: error: {e}", file=sys.stderr)
        return 2
    return 0


def run():
    """Console-script entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
