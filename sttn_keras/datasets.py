"""Image-classification data sets for tests and benchmarks, offline or not.

Every loader returns ``(x_train, y_train), (x_test, y_test)`` as numpy arrays:
images ``uint8`` in NHWC order, labels ``int64`` class indices.

The loaders take the data from a local copy when one is given, through the
``data_dir`` argument or the ``STTN_DATA_DIR`` environment variable (the
folder layout is that of ``shared/data``: ``fashion-mnist/``, ``mnist/`` and
``cifar10/cifar10_jpg.tar.gz``). Without a local copy, Fashion-MNIST and MNIST
come from ``keras.datasets`` (which downloads them); the CIFAR-10 JPEG copy
exists only as a local file and its loader says so.

Why Fashion-MNIST is not read through ``keras.datasets`` when a local copy is
given: ``keras.datasets.fashion_mnist.load_data()`` looks for its files under
the Keras home folder, and Keras 3 reads ``KERAS_HOME`` once, when ``keras`` is
first imported. Pointing ``KERAS_HOME`` at the copy from inside a process that
already imported Keras therefore has no effect, and importing Keras under a
temporary ``KERAS_HOME`` would move its config file for the rest of the
process. So a local copy is read directly, with the same format check as for
MNIST; ``tests/test_datasets.py`` checks that the arrays equal what
``keras.datasets.fashion_mnist.load_data()`` returns from the same files.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import tempfile

import numpy as np

# ``(x_train, y_train), (x_test, y_test)``.
Splits = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

__all__ = [
    "CIFAR10_CLASS_NAMES",
    "load_cifar10_jpeg",
    "load_fashion_mnist",
    "load_mnist",
    "read_idx",
]

DATA_DIR_ENV = "STTN_DATA_DIR"
CACHE_DIR_ENV = "STTN_CACHE_DIR"

CIFAR10_CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
_CIFAR_ARCHIVE = os.path.join("cifar10", "cifar10_jpg.tar.gz")
_CIFAR_CACHE_NAME = "cifar10_jpg_q75"
_CIFAR_READY = ".complete"


def _resolve_data_dir(data_dir):
    """Returns the local data folder to use, or None for keras.datasets."""
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV) or None
        source = f"the {DATA_DIR_ENV} environment variable"
    else:
        source = "`data_dir`"
    if data_dir is None:
        return None
    data_dir = os.fspath(data_dir)
    if not os.path.isdir(data_dir):
        raise ValueError(
            f"Received an invalid value for {source}, expected an existing "
            f"folder. Received: data_dir={data_dir!r}"
        )
    return data_dir


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads one IDX file (the MNIST file format), gzip-compressed or not.

    The header is validated: two zero bytes, a type byte, a dimension-count
    byte, then one big-endian int32 size per dimension; the data must hold
    exactly the number of items that the sizes announce.

    Args:
        path: Path of the file. A name ending in ``.gz`` is decompressed.

    Returns:
        A numpy array with the file's shape, in native byte order
        (``uint8`` for image and label files).

    Raises:
        ValueError: If the file is truncated, not gzip when named ``.gz``,
            or not an IDX file. The message names the file.

    Example:

    >>> import os, tempfile, numpy as np
    >>> from sttn_keras.datasets import read_idx
    >>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte")
    >>> with open(path, "wb") as f:
    ...     _ = f.write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1]))
    >>> read_idx(path)
    array([7, 2, 1], dtype=uint8)
    """
    path = os.fspath(path)
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            with open(path, "rb") as f:
                raw = f.read()
    except (OSError, EOFError) as e:
        # gzip raises BadGzipFile (an OSError) or EOFError on damaged input.
        raise ValueError(
            f"Could not read IDX file {path!r}: {type(e).__name__}: {e}"
        ) from e
    if len(raw) < 4:
        raise ValueError(
            f"Invalid IDX file {path!r}: {len(raw)} bytes, shorter than the "
            "4-byte header."
        )
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"Invalid IDX file {path!r}: the first two bytes must be zero. "
            f"Received: {raw[0]:#04x} {raw[1]:#04x}"
        )
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_DTYPES:
        raise ValueError(
            f"Invalid IDX file {path!r}: unknown data type byte "
            f"{type_code:#04x}; expected one of "
            f"{sorted(hex(k) for k in _IDX_DTYPES)}."
        )
    if ndim == 0:
        raise ValueError(f"Invalid IDX file {path!r}: zero dimensions.")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(
            f"Invalid IDX file {path!r}: truncated header ({len(raw)} bytes, "
            f"{header_size} needed for {ndim} dimensions)."
        )
    shape = tuple(int(s) for s in np.frombuffer(raw, ">i4", ndim, offset=4))
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(raw) - header_size
    if actual != expected:
        raise ValueError(
            f"Invalid IDX file {path!r}: the header announces shape {shape} "
            f"({expected} data bytes) but the file holds {actual} data bytes "
            f"({'truncated' if actual < expected else 'trailing bytes'})."
        )
    data = np.frombuffer(raw, dtype, offset=header_size).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _find_idx(folder, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise ValueError(
        f"Missing IDX file {stem}(.gz) in {folder!r}: a local MNIST-style copy "
        "needs the four files " + ", ".join(f"{s}.gz" for s in _IDX_FILES.values())
    )


def _load_idx_folder(folder):
    arrays = {
        key: read_idx(_find_idx(folder, stem)) for key, stem in _IDX_FILES.items()
    }
    for split in ("train", "test"):
        x, y = arrays["x_" + split], arrays["y_" + split]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(
                f"Inconsistent {split} files in {folder!r}: images {x.shape}, "
                f"labels {y.shape}; expected (N, H, W) images and N labels."
            )
    return (
        (arrays["x_train"][..., None], arrays["y_train"].astype(np.int64)),
        (arrays["x_test"][..., None], arrays["y_test"].astype(np.int64)),
    )


def _from_keras(name):
    import keras

    (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    return (
        (np.asarray(x_train)[..., None], np.asarray(y_train).astype(np.int64)),
        (np.asarray(x_test)[..., None], np.asarray(y_test).astype(np.int64)),
    )


def load_fashion_mnist(data_dir: str | os.PathLike | None = None) -> Splits:
    """Loads Fashion-MNIST: 60000 train and 10000 test 28x28 grey images.

    With a local copy (``data_dir`` or ``$STTN_DATA_DIR``), reads the four
    official IDX files from its ``fashion-mnist/`` folder; otherwise calls
    ``keras.datasets.fashion_mnist.load_data()``, which downloads them.

    Args:
        data_dir: Folder holding ``fashion-mnist/``. Defaults to
            ``$STTN_DATA_DIR``; when both are unset, Keras downloads the data.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: images ``uint8`` of shape
        ``(N, 28, 28, 1)``, labels ``int64`` in ``[0, 10)``.

    Raises:
        ValueError: If the local copy is missing a file or a file is damaged.

    Example:

    >>> from sttn_keras import datasets
    >>> (x, y), (xt, yt) = datasets.load_fashion_mnist()
    >>> x.shape, x.dtype, yt.shape
    ((60000, 28, 28, 1), dtype('uint8'), (10000,))
    """
    data_dir = _resolve_data_dir(data_dir)
    if data_dir is None:
        return _from_keras("fashion_mnist")
    return _load_idx_folder(os.path.join(data_dir, "fashion-mnist"))


def load_mnist(data_dir: str | os.PathLike | None = None) -> Splits:
    """Loads MNIST: 60000 train and 10000 test 28x28 grey digit images.

    With a local copy (``data_dir`` or ``$STTN_DATA_DIR``), reads the four
    official IDX files from its ``mnist/`` folder (``keras.datasets.mnist``
    wants an ``mnist.npz`` with a fixed hash, which IDX files cannot give);
    otherwise calls ``keras.datasets.mnist.load_data()``, which downloads.

    Args:
        data_dir: Folder holding ``mnist/``. Defaults to ``$STTN_DATA_DIR``;
            when both are unset, Keras downloads the data.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: images ``uint8`` of shape
        ``(N, 28, 28, 1)``, labels ``int64`` in ``[0, 10)``.

    Raises:
        ValueError: If the local copy is missing a file or a file is damaged;
            the message names the file.

    Example:

    >>> from sttn_keras import datasets
    >>> (x, y), (xt, yt) = datasets.load_mnist()
    >>> x.shape, int(y.max())
    ((60000, 28, 28, 1), 9)
    """
    data_dir = _resolve_data_dir(data_dir)
    if data_dir is None:
        return _from_keras("mnist")
    return _load_idx_folder(os.path.join(data_dir, "mnist"))


def _default_cache_dir():
    if os.environ.get(CACHE_DIR_ENV):
        return os.environ[CACHE_DIR_ENV]
    base = os.environ.get("KERAS_HOME") or os.path.join(
        os.path.expanduser("~"), ".keras"
    )
    if not os.access(os.path.dirname(os.path.abspath(base)), os.W_OK):
        base = os.path.join(tempfile.gettempdir(), ".keras")
    return os.path.join(base, "datasets")


def _unpack_once(archive, target):
    """Unpacks ``archive`` into ``target`` unless a finished copy is there."""
    if os.path.isfile(os.path.join(target, _CIFAR_READY)):
        return
    parent = os.path.dirname(os.path.abspath(target))
    os.makedirs(parent, exist_ok=True)
    # Unpack beside the target and rename: a process that is interrupted, or
    # two processes unpacking at once, never leave a half-filled cache.
    staging = tempfile.mkdtemp(prefix=".unpack-", dir=parent)
    try:
        with tarfile.open(archive, "r:gz") as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(staging, filter="data")
            else:  # Python < 3.11.4: check the member names by hand.
                for member in tar.getmembers():
                    name = os.path.normpath(member.name)
                    if name.startswith(("..", os.sep)) or not (
                        member.isfile() or member.isdir()
                    ):
                        raise ValueError(
                            f"Refusing to unpack {archive!r}: unsafe member "
                            f"{member.name!r}."
                        )
                tar.extractall(staging)
        with open(os.path.join(staging, _CIFAR_READY), "w") as f:
            f.write(archive + "\n")
        try:
            os.rename(staging, target)
        except OSError:
            # Another process finished first (target exists and is complete),
            # or a stale incomplete target is in the way.
            if not os.path.isfile(os.path.join(target, _CIFAR_READY)):
                shutil.rmtree(target, ignore_errors=True)
                os.rename(staging, target)
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ValueError(
            f"Could not unpack the CIFAR-10 JPEG copy {archive!r} into "
            f"{target!r}: {type(e).__name__}: {e}"
        ) from e
    finally:
        if os.path.isdir(staging):
            shutil.rmtree(staging, ignore_errors=True)


def _decode_jpegs(paths):
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow ships with matplotlib.
        Image = None
    images = np.empty((len(paths), 32, 32, 3), np.uint8)
    if Image is not None:
        for i, path in enumerate(paths):
            with Image.open(path) as img:
                images[i] = np.asarray(img.convert("RGB"))
        return images
    import tensorflow as tf

    for i, path in enumerate(paths):
        images[i] = tf.io.decode_jpeg(tf.io.read_file(path), channels=3).numpy()
    return images


def _read_split(root, split):
    folder = os.path.join(root, split)
    if not os.path.isdir(folder):
        raise ValueError(f"The CIFAR-10 JPEG copy in {root!r} has no {split}/.")
    classes = sorted(
        d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d))
    )
    if tuple(classes) != CIFAR10_CLASS_NAMES:
        raise ValueError(
            f"Unexpected class folders in {folder!r}: expected "
            f"{list(CIFAR10_CLASS_NAMES)}. Received: {classes}"
        )
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(
            f for f in os.listdir(os.path.join(folder, name)) if f.endswith(".jpg")
        )
        paths.extend(os.path.join(folder, name, f) for f in files)
        labels.extend([label] * len(files))
    return _decode_jpegs(paths), np.asarray(labels, np.int64)


def load_cifar10_jpeg(
    cache_dir: str | os.PathLike | None = None,
    data_dir: str | os.PathLike | None = None,
) -> Splits:
    """Loads the CIFAR-10 JPEG copy (quality 75): 50000 train, 10000 test.

    This is **not** CIFAR-10: the pixels went through lossy JPEG (quality 75,
    4:2:0 chroma) and differ from the originals by about 5-7/255 on average.
    Report results on it as "CIFAR-10 (JPEG q75 copy)".

    The archive ``cifar10/cifar10_jpg.tar.gz`` under ``data_dir`` is unpacked
    once into ``cache_dir``; the decoded arrays are cached there too, so later
    calls take well under a second. Labels follow the sorted class-folder
    names, which is the standard CIFAR-10 order (airplane=0 ... truck=9).
    Within a class, images keep the official order.

    Args:
        cache_dir: Folder for the unpacked copy and the decoded arrays.
            Defaults to ``$STTN_CACHE_DIR``, else ``$KERAS_HOME/datasets``
            (``~/.keras/datasets``).
        data_dir: Folder holding ``cifar10/cifar10_jpg.tar.gz``. Defaults to
            ``$STTN_DATA_DIR``. Required: this copy cannot be downloaded.

    Returns:
        ``(x_train, y_train), (x_test, y_test)``: images ``uint8`` of shape
        ``(N, 32, 32, 3)`` (RGB), labels ``int64`` in ``[0, 10)``, sorted by
        class.

    Raises:
        ValueError: If no data folder is given, or the archive is missing or
            damaged.

    Example:

    >>> from sttn_keras import datasets
    >>> (x, y), (xt, yt) = datasets.load_cifar10_jpeg()
    >>> x.shape, datasets.CIFAR10_CLASS_NAMES[int(yt[0])]
    ((50000, 32, 32, 3), 'airplane')
    """
    resolved = _resolve_data_dir(data_dir)
    if resolved is None:
        raise ValueError(
            "The CIFAR-10 JPEG copy is a local file and cannot be downloaded: "
            f"pass `data_dir` or set {DATA_DIR_ENV} to the folder holding "
            f"{_CIFAR_ARCHIVE}. Received: data_dir=None and {DATA_DIR_ENV} unset"
        )
    archive = os.path.join(resolved, _CIFAR_ARCHIVE)
    if not os.path.isfile(archive):
        raise ValueError(
            f"Missing the CIFAR-10 JPEG copy: no file {archive!r}. Expected "
            f"{_CIFAR_ARCHIVE} under data_dir={resolved!r}"
        )
    if cache_dir is None:
        cache_dir = _default_cache_dir()
    target = os.path.join(os.fspath(cache_dir), _CIFAR_CACHE_NAME)
    stat = os.stat(archive)
    arrays_path = os.path.join(target, f"arrays-{stat.st_size}.npz")
    _unpack_once(archive, target)
    if os.path.isfile(arrays_path):
        with np.load(arrays_path) as cached:
            return (
                (cached["x_train"], cached["y_train"]),
                (cached["x_test"], cached["y_test"]),
            )
    x_train, y_train = _read_split(target, "train")
    x_test, y_test = _read_split(target, "test")
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=target)
    with os.fdopen(fd, "wb") as f:
        np.savez(f, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    os.replace(tmp, arrays_path)
    return (x_train, y_train), (x_test, y_test)
