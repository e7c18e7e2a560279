"""``sttn-export``: export a saved STTN Keras model to ``.tflite``.

Example::

    sttn-export --model model.keras --output model.tflite
    sttn-export --model model.keras --output small.tflite \
        --float_layers=int8_weights --weight_encoding=base3

Prints the op histogram of the result and its size next to a float32
TFLite export of the same architecture.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sttn-export",
        description="Export a saved STTN Keras model (.keras) to a .tflite file with "
        "the sttn ternary custom ops; prints the op histogram and the size "
        "next to a float32 export.",
    )
    p.add_argument(
        "--model", required=True, help="path of a saved Keras model (.keras)"
    )
    p.add_argument("--output", required=True, help="where to write the .tflite file")
    p.add_argument(
        "--float_layers",
        default="int8_weights",
        choices=["int8_weights", "float32"],
        help="how the layers that stay float store their weights: int8_weights "
        "(int8 weights for the layers no ternary activation follows, i.e. "
        "the classifier; default) or float32",
    )
    p.add_argument(
        "--weight_encoding",
        default="base3",
        choices=["base3", "trit2"],
        help="ternary weight packing: base3 (1.6 bits per weight; default) or "
        "trit2 (2 bits per weight)",
    )
    p.add_argument(
        "--recalibrate_with",
        default=None,
        metavar="NPY",
        help="a .npy file of input images (batch axis first): re-estimate the "
        "BatchNorm statistics on them before export "
        "(sttn_keras.training.recalibrate_batchnorm)",
    )
    p.add_argument(
        "--compare_float",
        dest="compare_float",
        action="store_true",
        default=True,
        help="also convert the float32 equivalent and print the size ratio "
        "(default: on)",
    )
    p.add_argument(
        "--nocompare_float",
        "--no-compare_float",
        dest="compare_float",
        action="store_false",
        help="skip the float32 comparison",
    )
    p.add_argument(
        "--verbose",
        action="store_true",
        help="show TensorFlow's and the converter's logs (hidden by default, "
        "and printed when the export fails)",
    )
    return p


@contextlib.contextmanager
def _captured_output(enabled: bool):
    """Sends file descriptors 1 and 2 (TensorFlow's C++ logs write there
    directly) to a temporary file; yields a function that returns what was
    captured."""
    if not enabled:
        yield lambda: ""
        return
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        saved = os.dup(1), os.dup(2)
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)

        def read() -> str:
            tmp.seek(0)
            return tmp.read().decode(errors="replace")

        try:
            yield read
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _format_size(n):
    return f"{n / 1024:.1f} KiB" if n < (1 << 20) else f"{n / (1 << 20):.2f} MiB"


def export_file(
    model_path,
    output_path,
    compare_float=True,
    print_fn=print,
    *,
    float_layers="int8_weights",
    weight_encoding="base3",
    recalibrate_with=None,
):
    """Loads ``model_path``, exports it, prints a report, returns the bytes.

    ``float_layers`` and ``weight_encoding`` are passed to
    :func:`sttn_keras.export.to_tflite`; ``recalibrate_with`` (a ``.npy``
    file of inputs) re-estimates the BatchNorm statistics first.

    Example:

    >>> data = export_file("m.keras", "m.tflite", weight_encoding="base3")
    Wrote m.tflite (107.7 KiB; float layers int8_weights, weight encoding base3)
    Op histogram:
      SttnConv2D          2
      ...
    Size: 107.7 KiB vs 1.50 MiB for float32 TFLite (14.2x smaller)
    """
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    import sttn_keras  # noqa: F401  (registers the layers for loading)

    from . import baselines, inspect_tflite, keras_to_tflite

    if not os.path.exists(model_path):
        raise FileNotFoundError(f"--model: no such file: {model_path!r}")
    model = keras.models.load_model(model_path, compile=False)
    if recalibrate_with:
        import numpy as np

        from sttn_keras import training

        print_fn(training.recalibrate_batchnorm(model, np.load(recalibrate_with)))
    data = keras_to_tflite.to_tflite(
        model, output_path, float_layers=float_layers, weight_encoding=weight_encoding
    )
    hist = inspect_tflite.op_histogram(data)
    print_fn(
        f"Wrote {output_path} ({_format_size(len(data))}; float layers {float_layers}, "
        f"weight encoding {weight_encoding})"
    )
    print_fn("Op histogram:")
    width = max(len(k) for k in hist)
    for name, count in sorted(
        hist.items(), key=lambda kv: (not kv[0].startswith("Sttn"), kv[0])
    ):
        print_fn(f"  {name.ljust(width)}  {count}")
    if compare_float:
        float_size = len(baselines.float_tflite(model))
        print_fn(
            f"Size: {_format_size(len(data))} vs {_format_size(float_size)} for float32 "
            f"TFLite ({float_size / len(data):.1f}x smaller)"
        )
    return data


def run(argv=None) -> int:
    """Entry point of ``sttn-export``; returns the exit status.

    Example:

    >>> run(["--model", "m.keras", "--output", "m.tflite", "--no-compare_float"])
    Wrote m.tflite (107.7 KiB; float layers int8_weights, weight encoding base3)
    ...
    0
    """
    args = _parser().parse_args(argv)
    quiet = not args.verbose
    if quiet:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    report: list[str] = []
    with _captured_output(quiet) as logs:
        try:
            export_file(
                args.model,
                args.output,
                args.compare_float,
                print_fn=report.append,
                float_layers=args.float_layers,
                weight_encoding=args.weight_encoding,
                recalibrate_with=args.recalibrate_with,
            )
            error = None
        except (ValueError, FileNotFoundError, OSError) as e:
            error = e
        captured = logs()
    if error is not None:
        if captured.strip():
            print(captured.rstrip(), file=sys.stderr)
        print(f"sttn-export: error: {error}", file=sys.stderr)
        return 2
    for line in report:
        print(line)
    return 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())


if __name__ == "__main__":
    main()
