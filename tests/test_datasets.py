"""Tests for sttn_keras.datasets: the offline copies and the IDX reader."""

import gzip
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from sttn_keras import datasets

DATA_DIR = os.environ.get("STTN_DATA_DIR", "")


def _needs(sub):
    return pytest.mark.skipif(
        not (DATA_DIR and os.path.exists(os.path.join(DATA_DIR, sub))),
        reason=f"needs the local data copy $STTN_DATA_DIR/{sub} (offline machines)",
    )


def _check_split(x, y, n, shape):
    assert x.shape == (n, *shape)
    assert x.dtype == np.uint8
    assert y.shape == (n,)
    assert y.dtype == np.int64
    assert y.min() == 0 and y.max() == 9
    assert 0 < x.mean() < 255  # not all black or all white


@_needs("fashion-mnist")
def test_fashion_mnist_shapes_and_labels():
    (x, y), (xt, yt) = datasets.load_fashion_mnist()
    _check_split(x, y, 60000, (28, 28, 1))
    _check_split(xt, yt, 10000, (28, 28, 1))
    np.testing.assert_array_equal(np.bincount(y), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(yt), [1000] * 10)
    # Official first examples: train[0] is an ankle boot, test[0] too.
    assert y[0] == 9 and yt[0] == 9


@_needs("fashion-mnist")
def test_fashion_mnist_equals_the_keras_loader(tmp_path):
    # keras.datasets.fashion_mnist.load_data() on the same files, in a fresh
    # process whose KERAS_HOME is set before Keras is imported.
    home = tmp_path / "keras_home"
    (home / "datasets").mkdir(parents=True)
    os.symlink(
        os.path.join(DATA_DIR, "fashion-mnist"), home / "datasets" / "fashion-mnist"
    )
    out = tmp_path / "keras.npz"
    script = textwrap.dedent(
        f"""
        import numpy as np, keras
        (x, y), (xt, yt) = keras.datasets.fashion_mnist.load_data()
        np.savez({str(out)!r}, x=x, y=y, xt=xt, yt=yt)
        """
    )
    env = dict(os.environ, KERAS_HOME=str(home), KERAS_BACKEND="numpy")
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=300)
    (x, y), (xt, yt) = datasets.load_fashion_mnist()
    with np.load(out) as ref:
        np.testing.assert_array_equal(x[..., 0], ref["x"])
        np.testing.assert_array_equal(y, ref["y"])
        np.testing.assert_array_equal(xt[..., 0], ref["xt"])
        np.testing.assert_array_equal(yt, ref["yt"])


@_needs("mnist")
def test_mnist_shapes_and_labels():
    (x, y), (xt, yt) = datasets.load_mnist()
    _check_split(x, y, 60000, (28, 28, 1))
    _check_split(xt, yt, 10000, (28, 28, 1))
    # Official first examples: train[0] is a 5, test[0] a 7.
    assert y[0] == 5 and yt[0] == 7


@_needs("mnist")
def test_data_dir_argument_overrides_the_environment(monkeypatch):
    monkeypatch.delenv("STTN_DATA_DIR", raising=False)
    (_, y), _ = datasets.load_mnist(data_dir=DATA_DIR)
    assert y.shape == (60000,)


@_needs("cifar10")
def test_cifar10_jpeg_copy():
    # The default cache (shared with the benchmarks): unpacked once per machine.
    (x, y), (xt, yt) = datasets.load_cifar10_jpeg()
    _check_split(x, y, 50000, (32, 32, 3))
    _check_split(xt, yt, 10000, (32, 32, 3))
    np.testing.assert_array_equal(np.bincount(y), [5000] * 10)
    np.testing.assert_array_equal(np.bincount(yt), [1000] * 10)
    # Colour images: the channels differ.
    assert np.abs(x[:100, ..., 0].astype(int) - x[:100, ..., 2]).mean() > 5


def _fake_cifar_archive(root, per_class=2):
    """A CIFAR-10-copy-shaped archive of tiny JPEGs; returns the images."""
    import io
    import tarfile

    from PIL import Image

    rng = np.random.default_rng(0)
    images = {}
    (root / "cifar10").mkdir(parents=True)
    with tarfile.open(root / "cifar10" / "cifar10_jpg.tar.gz", "w:gz") as tar:
        for split in ("train", "test"):
            # Reverse order on purpose: labels must follow sorted names.
            for name in reversed(datasets.CIFAR10_CLASS_NAMES):
                for i in range(per_class):
                    img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                    buf = io.BytesIO()
                    Image.fromarray(img).save(buf, "JPEG", quality=75)
                    info = tarfile.TarInfo(f"{split}/{name}/{i:04d}.jpg")
                    info.size = len(buf.getvalue())
                    buf.seek(0)
                    tar.addfile(info, buf)
                    images[split, name, i] = buf.getvalue()
    return images


def test_cifar10_jpeg_unpacks_once_and_caches(tmp_path):
    import io

    from PIL import Image

    images = _fake_cifar_archive(tmp_path / "data")
    cache = tmp_path / "cache"
    (x, y), (xt, yt) = datasets.load_cifar10_jpeg(
        cache_dir=cache, data_dir=tmp_path / "data"
    )
    assert x.shape == (20, 32, 32, 3) and xt.shape == (20, 32, 32, 3)
    assert x.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(y, np.repeat(np.arange(10), 2))
    # Label 1 is 'automobile' (sorted class names = the standard order).
    expected = np.asarray(Image.open(io.BytesIO(images["train", "automobile", 1])))
    np.testing.assert_array_equal(x[3], expected)
    root = cache / "cifar10_jpg_q75"
    assert (root / ".complete").is_file()
    # No staging folder is left behind; the decoded arrays are cached.
    assert [p.name for p in cache.iterdir()] == ["cifar10_jpg_q75"]
    assert len(list(root.glob("arrays-*.npz"))) == 1
    # The second call reads the cache: it works without the JPEG files.
    for jpg in root.glob("*/*/*.jpg"):
        jpg.unlink()
    (x2, y2), (xt2, yt2) = datasets.load_cifar10_jpeg(
        cache_dir=cache, data_dir=tmp_path / "data"
    )
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(yt2, yt)


def test_cifar10_jpeg_damaged_archive(tmp_path):
    (tmp_path / "cifar10").mkdir()
    (tmp_path / "cifar10" / "cifar10_jpg.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(ValueError, match="Could not unpack the CIFAR-10 JPEG copy"):
        datasets.load_cifar10_jpeg(cache_dir=tmp_path / "cache", data_dir=tmp_path)
    # Nothing half-written is left in the cache.
    assert not (tmp_path / "cache" / "cifar10_jpg_q75").exists()


def test_cifar10_jpeg_without_a_path_says_it_needs_one(monkeypatch):
    monkeypatch.delenv("STTN_DATA_DIR", raising=False)
    with pytest.raises(ValueError, match="cannot be downloaded.*STTN_DATA_DIR"):
        datasets.load_cifar10_jpeg()


def test_cifar10_jpeg_missing_archive(tmp_path):
    with pytest.raises(ValueError, match="cifar10_jpg.tar.gz"):
        datasets.load_cifar10_jpeg(cache_dir=tmp_path, data_dir=tmp_path)


def test_invalid_data_dir():
    with pytest.raises(ValueError, match="Received an invalid value for `data_dir`"):
        datasets.load_mnist(data_dir="/nonexistent/sttn-data")


def test_missing_idx_file_is_named(tmp_path):
    (tmp_path / "mnist").mkdir()
    with pytest.raises(ValueError, match="train-images-idx3-ubyte"):
        datasets.load_mnist(data_dir=tmp_path)


# --- IDX reader -----------------------------------------------------------


def _idx_bytes(array, type_code=0x08):
    header = bytes([0, 0, type_code, array.ndim])
    header += np.asarray(array.shape, ">i4").tobytes()
    return header + array.astype(">u1").tobytes()


def test_read_idx_roundtrip_plain_and_gzip(tmp_path):
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    plain = tmp_path / "x-idx3-ubyte"
    plain.write_bytes(_idx_bytes(array))
    packed = tmp_path / "x-idx3-ubyte.gz"
    packed.write_bytes(gzip.compress(_idx_bytes(array)))
    np.testing.assert_array_equal(datasets.read_idx(plain), array)
    np.testing.assert_array_equal(datasets.read_idx(packed), array)
    assert datasets.read_idx(plain).dtype == np.uint8


def test_read_idx_big_endian_int32(tmp_path):
    array = np.array([1, -2, 70000], ">i4")
    path = tmp_path / "ints-idx1"
    path.write_bytes(
        bytes([0, 0, 0x0C, 1]) + np.array([3], ">i4").tobytes() + array.tobytes()
    )
    np.testing.assert_array_equal(datasets.read_idx(path), [1, -2, 70000])


@pytest.mark.parametrize(
    "name, mutate, message",
    [
        ("truncated", lambda b: b[:-5], "truncated"),
        ("trailing", lambda b: b + b"\0", "trailing bytes"),
        ("bad_magic", lambda b: b"\1" + b[1:], "first two bytes must be zero"),
        ("bad_type", lambda b: b[:2] + b"\x07" + b[3:], "unknown data type"),
        ("short_header", lambda b: b[:6], "truncated header"),
        ("tiny", lambda b: b[:2], "shorter than the 4-byte header"),
    ],
)
def test_read_idx_rejects_bad_files_naming_them(tmp_path, name, mutate, message):
    good = _idx_bytes(np.zeros((3, 2, 2), np.uint8))
    path = tmp_path / f"{name}-idx3-ubyte"
    path.write_bytes(mutate(good))
    with pytest.raises(ValueError, match=message) as info:
        datasets.read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_truncated_gzip_names_the_file(tmp_path):
    data = gzip.compress(_idx_bytes(np.zeros((50, 28, 28), np.uint8)))
    path = tmp_path / "cut-idx3-ubyte.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="Could not read IDX file") as info:
        datasets.read_idx(path)
    assert str(path) in str(info.value)


def test_truncated_copy_fails_loudly(tmp_path):
    # A whole local copy with one damaged file: the error names that file.
    folder = tmp_path / "mnist"
    folder.mkdir()
    for stem, shape in [
        ("train-images-idx3-ubyte", (4, 28, 28)),
        ("train-labels-idx1-ubyte", (4,)),
        ("t10k-images-idx3-ubyte", (2, 28, 28)),
        ("t10k-labels-idx1-ubyte", (2,)),
    ]:
        raw = _idx_bytes(np.ones(shape, np.uint8))
        if stem.startswith("t10k-images"):
            raw = raw[:-100]
        (folder / (stem + ".gz")).write_bytes(gzip.compress(raw))
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.gz.*truncated"):
        datasets.load_mnist(data_dir=tmp_path)
