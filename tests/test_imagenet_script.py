"""benchmarks/imagenet/train.py end to end on a tiny image folder."""

import importlib.util
import io
import json
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "imagenet", "train.py")
ARCHIVE = os.path.join(
    os.environ.get("STTN_DATA_DIR", ""), "cifar10", "cifar10_jpg.tar.gz"
)
CLASSES = ("airplane", "cat", "ship")


def _images(per_class):
    """{class: [HxWx3 uint8]}: CIFAR-10 copy images, or synthetic ones."""
    from PIL import Image

    out = {c: [] for c in CLASSES}
    if os.path.isfile(ARCHIVE):
        with tarfile.open(ARCHIVE, "r:gz") as tar:
            for member in tar:
                parts = member.name.split("/")
                if len(parts) == 3 and parts[0] == "train" and parts[1] in out:
                    if len(out[parts[1]]) < per_class:
                        with Image.open(tar.extractfile(member)) as img:
                            out[parts[1]].append(np.asarray(img.convert("RGB")))
                if all(len(v) == per_class for v in out.values()):
                    break
    else:
        rng = np.random.default_rng(0)
        for k, c in enumerate(CLASSES):
            for _ in range(per_class):
                img = rng.integers(0, 60, (32, 32, 3)).astype(np.uint8)
                img[..., k] += 150  # one colour per class
                out[c].append(img)
    return out


def _jpeg(array, size):
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).resize(size, Image.BILINEAR).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _image_folder(root, images, split, start, count):
    for c in CLASSES:
        os.makedirs(os.path.join(root, split, c), exist_ok=True)
        for i, img in enumerate(images[c][start : start + count]):
            # Upscaled, and not square, as real photos are.
            path = os.path.join(root, split, c, f"{i:04d}.JPEG")
            with open(path, "wb") as f:
                f.write(_jpeg(img, (96, 80)))


@pytest.fixture(scope="module")
def train_module():
    spec = importlib.util.spec_from_file_location("imagenet_train", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["imagenet_train"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_trains_end_to_end_on_two_logical_cpus(tmp_path):
    import keras

    images = _images(9)
    data = tmp_path / "data"
    _image_folder(data, images, "train", 0, 6)
    # 9 validation images, global batch 8: the last batch (1 image) does not
    # split evenly over the two replicas.
    _image_folder(data, images, "val", 6, 3)
    # A small float teacher on the normalised images (the real run uses an
    # ImageNet ResNet-50; a 25M-parameter network is too slow for a test).
    teacher = keras.Sequential(
        [
            keras.Input((64, 64, 3)),
            keras.layers.Conv2D(8, 3, strides=4),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(len(CLASSES)),
        ]
    )
    teacher.save(tmp_path / "teacher.keras")
    model_dir = tmp_path / "run"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
    result = subprocess.run(
        [
            sys.executable,
            SCRIPT,
            "--data_format=imagefolder",
            f"--train_dir={data / 'train'}",
            f"--val_dir={data / 'val'}",
            f"--model_dir={model_dir}",
            f"--teacher={tmp_path / 'teacher.keras'}",
            "--image_size=64",
            "--batch_size=8",
            "--epochs=2",
            "--steps_per_epoch=2",
            "--shuffle_buffer=16",
            "--strategy=mirrored",
            "--num_logical_cpus=2",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    summary = json.loads((model_dir / "summary.json").read_text())
    assert summary["strategy"] == "MirroredStrategy"
    assert summary["replicas"] == 2
    assert summary["num_classes"] == 3 and summary["steps_per_epoch"] == 2
    history = summary["history"]
    for key in ("loss", "top1", "top5", "val_loss", "val_top1"):
        assert len(history[key]) == 2, key
        assert all(np.isfinite(history[key])), key
    assert history["top5"][-1] == 1.0  # 3 classes: top-5 is always right
    # BatchNorm recalibration ran on the 18 training images (6 per class;
    # 100 steps asked, the finite un-augmented pipeline has 3 batches of 8),
    # then validation again.
    assert summary["recalibration"]["samples"] == 18
    assert len(summary["recalibration"]["layers"]) > 10  # every BN of ResNet-18
    assert 0.0 <= summary["val_after_recalibration"]["top1"] <= 1.0
    # The distillation loss is a KL divergence: non-negative.
    assert min(history["loss"]) >= 0
    log = (model_dir / "log.csv").read_text().strip().splitlines()
    assert len(log) == 3  # header + 2 epochs

    import sttn_keras as sttn
    from sttn_keras import layers, models  # noqa: F401  (registers the classes)

    student = keras.saving.load_model(model_dir / "student.keras")
    assert student.output_shape == (None, 3)

    ternary = [
        layer
        for layer in student.layers
        if isinstance(layer, sttn.layers.TernaryLayerMixin)
    ]
    assert len(ternary) == 16


def _tfrecord(path, images, labels):
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path)) as writer:
        for img, label in zip(images, labels):
            feature = {
                "image/encoded": tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[_jpeg(img, (48, 40))])
                ),
                "image/class/label": tf.train.Feature(
                    int64_list=tf.train.Int64List(value=[label])
                ),
            }
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString())


def test_tfrecord_pipeline_and_worker_sharding(tmp_path, train_module):
    images = _images(4)
    # Two files, 1-based labels as in the ImageNet TFRecords.
    _tfrecord(tmp_path / "a.tfrecord", images["airplane"], [1] * 4)
    _tfrecord(tmp_path / "b.tfrecord", images["cat"], [2] * 4)
    files = [str(tmp_path / "a.tfrecord"), str(tmp_path / "b.tfrecord")]
    ds = train_module.make_dataset(
        files, False, image_size=32, batch_size=8, data_format="tfrecord"
    )
    x, y = next(iter(ds))
    assert x.shape == (8, 32, 32, 3) and x.dtype.name == "float32"
    assert sorted(y.numpy().tolist()) == [0] * 4 + [1] * 4
    # Normalised pixels: roughly zero mean, unit scale.
    assert -2.5 < float(np.mean(x)) < 2.5 and float(np.std(x)) > 0.1
    # Each of two workers reads only its own file.
    seen = []
    for worker in (0, 1):
        ds = train_module.make_dataset(
            files,
            True,
            image_size=32,
            batch_size=4,
            num_workers=2,
            worker_index=worker,
            data_format="tfrecord",
            shuffle_buffer=8,
        )
        _, y = next(iter(ds))
        seen.append(set(y.numpy().tolist()))
    assert seen == [{0}, {1}]


def test_image_folder_listing(tmp_path, train_module):
    images = _images(3)
    _image_folder(tmp_path, images, "train", 0, 3)
    paths, labels, classes = train_module.list_image_folder(str(tmp_path / "train"))
    assert classes == sorted(CLASSES)
    assert len(paths) == 9 and labels == [0] * 3 + [1] * 3 + [2] * 3
    ds = train_module.make_dataset(
        (paths, labels), True, image_size=40, batch_size=9, seed=1
    )
    x, y = next(iter(ds))
    assert x.shape == (9, 40, 40, 3) and sorted(y.numpy().tolist()) == labels
    with pytest.raises(ValueError, match="image folder"):
        train_module.list_image_folder(str(tmp_path / "missing"))
