"""Fills android_demo/app/src/main/assets/ for the demo app.

``models``: copies the two files ``make demo`` writes (``sttn_keras/demo.py``:
``artifacts/demo/fmnist_sttn.tflite``, the STTN export with the sttn custom
ops, and ``artifacts/demo/fmnist_float32.tflite``, the float32 TFLite export
of the same architecture). ``make android-model`` runs this.

``images``: writes the first Fashion-MNIST *test* image of each class as an
RGB PNG (r == g == b == the dataset's pixel, lossless) into
``assets/images/`` with ``labels.csv`` (file, label, test-set index). These
are committed; tests/test_android.py checks that the app's Java
preprocessing of them equals the demo's Python preprocessing bit for bit.

Usage: python android_demo/tools/make_assets.py models|images [--src DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = os.path.join(HERE, "..", "app", "src", "main", "assets")
MODEL_FILES = ("fmnist_sttn.tflite", "fmnist_float32.tflite")
LABELS = (
    "t_shirt_top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle_boot",
)


def write_png_rgb(path: str, gray_rows) -> None:
    """Writes an 8-bit RGB PNG with r = g = b = each gray value (our own encoder)."""
    height, width = len(gray_rows), len(gray_rows[0])
    raw = b"".join(
        b"\x00" + bytes(v for p in row for v in (p, p, p)) for row in gray_rows
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def copy_models(src: str, dest: str = ASSETS) -> None:
    missing = [m for m in MODEL_FILES if not os.path.exists(os.path.join(src, m))]
    if missing:
        sys.exit(
            f"error: {', '.join(missing)} not found in {src}: run `make demo` first "
            f"(it writes them)."
        )
    os.makedirs(dest, exist_ok=True)
    for name in MODEL_FILES:
        shutil.copyfile(os.path.join(src, name), os.path.join(dest, name))
        print(f"  {os.path.join(src, name)} -> {os.path.join(dest, name)}")


def write_images() -> None:
    from sttn_keras import datasets

    (_, _), (x_test, y_test) = datasets.load_fashion_mnist()
    out = os.path.join(ASSETS, "images")
    os.makedirs(out, exist_ok=True)
    lines = ["file,label,test_index"]
    for label in range(10):
        index = int((y_test == label).nonzero()[0][0])
        name = f"{index:05d}_{LABELS[label]}.png"
        write_png_rgb(os.path.join(out, name), x_test[index, :, :, 0].tolist())
        lines.append(f"{name},{label},{index}")
    with open(os.path.join(out, "labels.csv"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"  wrote {len(lines) - 1} images and labels.csv to {out}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["models", "images"])
    parser.add_argument(
        "--src",
        default="artifacts/demo",
        help="folder holding the demo's .tflite files",
    )
    args = parser.parse_args(argv)
    if args.what == "models":
        copy_models(args.src)
    else:
        write_images()


if __name__ == "__main__":
    main()
