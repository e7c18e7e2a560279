"""Trains the STTN ResNet-18 on ImageNet with the reference recipe, distributed.

Recipe (Xu et al., reference implementation): ResNet-18 with ternary weights
and activations (first conv and last dense float), trained from scratch with
Adam (lr 5e-3 at batch 256, no weight decay) under a cosine schedule for 256
epochs; the loss is the distillation loss alone, KL to a pretrained float
ResNet-50's softmax. Everything here comes from ``sttn_keras``:
``models.resnet18``, ``training.Distiller``, ``training.reference_optimizer``.
After the last epoch the student's BatchNorm statistics are re-estimated
exactly over ``--recalibration_steps`` batches of training images (centre
crops, the same images on every worker, so all replicas get the same
statistics) with ``training.BatchNormRecalibration``, and the validation set
is evaluated again: ``summary.json`` holds both numbers.

Data, read with ``tf.data``:

* ``--data_format=imagefolder``: ``<train_dir>/<class>/*.JPEG`` and
  ``<val_dir>/<class>/*.JPEG``; labels are the sorted class-folder names.
* ``--data_format=tfrecord``: the usual ImageNet TFRecords (as written by the
  TensorFlow models' ``imagenet_to_gcs.py``): ``image/encoded`` (JPEG bytes)
  and ``image/class/label`` (1-based: ``--label_offset=1``).

Training: random-resized crop (area 8%-100%) and flip; validation: resize
the shorter side to ``image_size / 0.875`` and centre crop. Pixels are
normalised with the ImageNet mean and std.

Distribution (``--strategy``): ``mirrored`` trains on all local GPUs (or the
CPU) of one host; ``multi_worker`` trains across hosts described by the
``TF_CONFIG`` environment variable (one process per host, same command);
``auto`` picks ``multi_worker`` when ``TF_CONFIG`` lists more than one
worker, else ``mirrored``. ``--batch_size`` is the global batch. Input
files are sharded across workers by the script (each worker decodes only its
share). ``BackupAndRestore`` lets an interrupted run resume from the last
epoch; the chief writes the student (``student.keras``), a CSV log and a JSON
summary to ``--model_dir``.

Example (one host, all its GPUs)::

    python benchmarks/imagenet/train.py --data_format=imagefolder \\
        --train_dir=/data/imagenet/train --val_dir=/data/imagenet/val \\
        --model_dir=/ckpt/sttn-r18 --teacher=resnet50

See ``benchmarks/imagenet/README.md`` for clusters.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time

from absl import app, flags, logging

FLAGS = flags.FLAGS

flags.DEFINE_enum(
    "data_format", "imagefolder", ["imagefolder", "tfrecord"], "Layout of the data set."
)
flags.DEFINE_string("train_dir", None, "ImageFolder: the training folder.")
flags.DEFINE_string("val_dir", None, "ImageFolder: the validation folder.")
flags.DEFINE_string("train_pattern", None, "TFRecord: glob of training files.")
flags.DEFINE_string("val_pattern", None, "TFRecord: glob of validation files.")
flags.DEFINE_integer(
    "num_classes",
    None,
    "Classes (default: the ImageFolder's class folders; 1000 for TFRecords).",
)
flags.DEFINE_integer(
    "label_offset",
    1,
    "TFRecord: subtracted from image/class/label (ImageNet TFRecords are 1-based).",
)
flags.DEFINE_integer(
    "num_train_examples",
    None,
    "TFRecord: examples in the training set (default 1281167, ImageNet's).",
)
flags.DEFINE_integer(
    "num_val_examples",
    None,
    "TFRecord: examples in the validation set (default 50000).",
)
flags.DEFINE_string("model_dir", None, "Output folder (checkpoints, logs, model).")
flags.DEFINE_integer("image_size", 224, "Training and validation crop size.")
flags.DEFINE_integer("batch_size", 256, "Global batch size (all replicas).")
flags.DEFINE_integer("epochs", 256, "Training epochs.")
flags.DEFINE_integer(
    "steps_per_epoch", None, "Steps per epoch (default: training examples // batch)."
)
flags.DEFINE_integer(
    "validation_steps", None, "Validation steps (default: the whole validation set)."
)
flags.DEFINE_float("learning_rate", 5e-3, "Peak learning rate of Adam.")
flags.DEFINE_integer("warmup_epochs", 0, "Linear warm-up epochs.")
flags.DEFINE_enum(
    "kernel_quantizer",
    "sttn",
    ["sttn", "twn", "none"],
    "Student weights: STTN, TWN or float.",
)
flags.DEFINE_enum(
    "input_quantizer",
    "ternary",
    ["ternary", "none"],
    "Student activations: ternary or float.",
)
flags.DEFINE_string(
    "teacher",
    "resnet50",
    "'resnet50' (keras.applications, weights from "
    "--teacher_weights), a path to a .keras model that takes "
    "the normalised images and outputs logits, or 'none' "
    "(no distillation: label loss only).",
)
flags.DEFINE_string(
    "teacher_weights",
    "imagenet",
    "For --teacher=resnet50: 'imagenet', a weights file, or "
    "'none' (random; smoke tests only).",
)
flags.DEFINE_float("temperature", 1.0, "Distillation temperature.")
flags.DEFINE_float(
    "label_loss_weight",
    0.0,
    "Weight of the label loss next to the distillation loss (0 = reference recipe).",
)
flags.DEFINE_enum(
    "strategy",
    "auto",
    ["auto", "mirrored", "multi_worker", "default"],
    "tf.distribute strategy.",
)
flags.DEFINE_integer(
    "num_logical_cpus",
    0,
    "Split the CPU into this many logical devices (tests: MirroredStrategy over CPUs).",
)
flags.DEFINE_integer("shuffle_buffer", 10000, "Shuffle buffer (examples).")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_integer(
    "recalibration_steps",
    100,
    "Batches of training images (validation preprocessing, no augmentation) "
    "over which the student's BatchNorm statistics are re-estimated at the end "
    "of training (sttn_keras.training.recalibrate_batchnorm); 0: off.",
)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_TRAIN, IMAGENET_VAL = 1281167, 50000


# --------------------------------------------------------------------------
# Input pipeline
# --------------------------------------------------------------------------


def list_image_folder(root, class_names=None):
    """Lists an ImageFolder: returns (paths, labels, class_names)."""
    import tensorflow as tf

    if not tf.io.gfile.isdir(root):
        raise ValueError(
            f"Received an invalid value for the image folder, expected a "
            f"folder of class folders. Received: {root!r}"
        )
    if class_names is None:
        class_names = sorted(
            d.rstrip("/")
            for d in tf.io.gfile.listdir(root)
            if tf.io.gfile.isdir(os.path.join(root, d))
        )
    if not class_names:
        raise ValueError(f"No class folders in {root!r}.")
    exts = (".jpeg", ".jpg", ".png", ".bmp", ".gif")
    paths, labels = [], []
    for label, name in enumerate(class_names):
        folder = os.path.join(root, name)
        if not tf.io.gfile.isdir(folder):
            continue  # a validation split may lack a class
        files = sorted(
            f for f in tf.io.gfile.listdir(folder) if f.lower().endswith(exts)
        )
        paths += [os.path.join(folder, f) for f in files]
        labels += [label] * len(files)
    if not paths:
        raise ValueError(f"No images under {root!r}.")
    return paths, labels, class_names


def _decode(image_bytes):
    import tensorflow as tf

    image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _train_crop(image, image_size, seed):
    import tensorflow as tf

    begin, size, _ = tf.image.sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=tf.constant([0.0, 0.0, 1.0, 1.0], shape=[1, 1, 4]),
        min_object_covered=0.1,
        aspect_ratio_range=(3 / 4, 4 / 3),
        area_range=(0.08, 1.0),
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
        seed=seed,
    )
    image = tf.slice(image, begin, size)
    image = tf.image.resize(image, [image_size, image_size], method="bilinear")
    return tf.image.random_flip_left_right(image, seed=seed)


def _eval_crop(image, image_size):
    import tensorflow as tf

    shape = tf.cast(tf.shape(image)[:2], tf.float32)
    scale = (image_size / 0.875) / tf.reduce_min(shape)
    new = tf.cast(tf.round(shape * scale), tf.int32)
    image = tf.image.resize(image, new, method="bilinear")
    return tf.image.resize_with_crop_or_pad(image, image_size, image_size)


def _normalise(image):
    import tensorflow as tf

    mean = tf.constant(IMAGENET_MEAN) * 255.0
    std = tf.constant(IMAGENET_STD) * 255.0
    return (tf.cast(image, tf.float32) - mean) / std


def make_dataset(
    records,
    training,
    image_size,
    batch_size,
    num_workers=1,
    worker_index=0,
    seed=0,
    shuffle_buffer=10000,
    data_format="imagefolder",
    label_offset=1,
    pad_to=None,
):
    """Builds the (image, label[, weight]) pipeline for one worker.

    Args:
        records: ImageFolder: ``(paths, labels)``; TFRecord: a list of files.
        training: Random crops, flips, shuffling and repetition if True.
        image_size: Output height and width.
        batch_size: The global batch size (tf.distribute splits it).
        num_workers: Workers of a multi-worker strategy.
        worker_index: This worker's index: it reads only its shard of files.
        seed: Shuffling and augmentation seed.
        shuffle_buffer: Shuffle buffer, in examples.
        data_format: ``"imagefolder"`` or ``"tfrecord"``.
        label_offset: TFRecord: subtracted from the stored label.
        pad_to: Evaluation only: the number of examples in ``records``. The
            data are then padded with zero-weight blank images to whole
            batches, and the elements are ``(images, labels, weights)``:
            every replica gets a full share of every batch (TensorFlow fails
            on empty per-replica batches) and metrics stay exact.

    Returns:
        A ``tf.data.Dataset`` of ``(float32 images, int32 labels)`` batches
        (plus float32 weights with ``pad_to``), with auto-sharding off (the
        sharding is done here).
    """
    import tensorflow as tf

    if data_format == "imagefolder":
        paths, labels = records
        ds = tf.data.Dataset.from_tensor_slices((list(paths), list(labels)))
        if num_workers > 1:
            ds = ds.shard(num_workers, worker_index)
        if training:
            ds = ds.shuffle(
                min(len(paths), 10 * shuffle_buffer),
                seed=seed,
                reshuffle_each_iteration=True,
            )
        ds = ds.map(
            lambda p, y: (tf.io.read_file(p), y), num_parallel_calls=tf.data.AUTOTUNE
        )
    else:
        files = tf.data.Dataset.from_tensor_slices(list(records))
        if num_workers > 1:
            files = files.shard(num_workers, worker_index)
        if training:
            files = files.shuffle(
                len(records), seed=seed, reshuffle_each_iteration=True
            )
        ds = files.interleave(
            tf.data.TFRecordDataset,
            cycle_length=8,
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=not training,
        )
        features = {
            "image/encoded": tf.io.FixedLenFeature([], tf.string),
            "image/class/label": tf.io.FixedLenFeature([], tf.int64),
        }

        def parse(serialized):
            ex = tf.io.parse_single_example(serialized, features)
            label = tf.cast(ex["image/class/label"], tf.int32) - label_offset
            return ex["image/encoded"], label

        ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
        if training:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if training:
        ds = ds.repeat()

    def preprocess(image_bytes, label):
        image = _decode(image_bytes)
        if training:
            image = _train_crop(image, image_size, seed)
        else:
            image = _eval_crop(image, image_size)
        return _normalise(image), tf.cast(label, tf.int32)

    ds = ds.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE)
    if pad_to is not None and not training:
        ds = ds.map(lambda x, y: (x, y, tf.constant(1.0)))
        blank = (
            tf.zeros([image_size, image_size, 3]),
            tf.constant(0, tf.int32),
            tf.constant(0.0),
        )
        padding = tf.data.Dataset.from_tensors(blank).repeat((-pad_to) % batch_size)
        ds = ds.concatenate(padding)
    ds = ds.batch(batch_size, drop_remainder=training or pad_to is not None)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF
    )
    options.deterministic = not training
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------------
# Strategy, models
# --------------------------------------------------------------------------


def _num_workers_in_tf_config():
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    cluster = config.get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def make_strategy(name):
    """Returns ``(strategy, num_workers, worker_index, is_chief)``."""
    import tensorflow as tf

    if name == "auto":
        name = "multi_worker" if _num_workers_in_tf_config() > 1 else "mirrored"
    if name == "multi_worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        resolver = strategy.cluster_resolver
        task_type, task_id = resolver.task_type, resolver.task_id
        workers = resolver.cluster_spec().as_dict()
        num_workers = len(workers.get("worker", [])) + len(workers.get("chief", []))
        # Index of this host among all input-reading workers.
        index = task_id + (1 if task_type == "worker" and "chief" in workers else 0)
        is_chief = task_type == "chief" or (
            task_type == "worker" and task_id == 0 and "chief" not in workers
        )
        return strategy, num_workers, index, is_chief
    if name == "mirrored":
        devices = None
        if not tf.config.list_logical_devices("GPU"):
            # Without GPUs MirroredStrategy() takes one CPU; use every logical
            # CPU device (--num_logical_cpus) instead.
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices), 1, 0, True
    return tf.distribute.get_strategy(), 1, 0, True


def _student(num_classes):
    from sttn_keras import models

    kq = None if FLAGS.kernel_quantizer == "none" else FLAGS.kernel_quantizer
    iq = None if FLAGS.input_quantizer == "none" else FLAGS.input_quantizer
    return models.resnet18(
        input_shape=(FLAGS.image_size, FLAGS.image_size, 3),
        num_classes=num_classes,
        kernel_quantizer=kq,
        input_quantizer=iq,
    )


def _teacher(num_classes):
    import keras

    if FLAGS.teacher == "none":
        return None
    if FLAGS.teacher != "resnet50":
        teacher = keras.saving.load_model(FLAGS.teacher, compile=False)
        return teacher
    weights = None if FLAGS.teacher_weights == "none" else FLAGS.teacher_weights
    if weights == "imagenet" and num_classes != 1000:
        raise ValueError(
            "The ImageNet ResNet-50 teacher has 1000 classes. Received: "
            f"num_classes={num_classes}; pass --teacher=<path.keras>."
        )

    # keras.applications.ResNet50 wants caffe-style inputs (BGR, mean
    # subtracted, 0-255): undo our normalisation and redo theirs.
    class ToCaffe(keras.layers.Layer):
        def call(self, x):
            mean = keras.ops.convert_to_tensor(IMAGENET_MEAN, x.dtype) * 255.0
            std = keras.ops.convert_to_tensor(IMAGENET_STD, x.dtype) * 255.0
            bgr = keras.ops.flip(x * std + mean, axis=-1)
            return bgr - keras.ops.convert_to_tensor(
                [103.939, 116.779, 123.68], x.dtype
            )

    inputs = keras.Input((FLAGS.image_size, FLAGS.image_size, 3))
    caffe = ToCaffe(name="to_caffe")(inputs)
    resnet = keras.applications.ResNet50(
        weights=weights,
        classes=num_classes,
        classifier_activation=None,
        input_shape=(FLAGS.image_size, FLAGS.image_size, 3),
    )
    return keras.Model(inputs, resnet(caffe), name="resnet50_teacher")


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def _check_flags():
    if FLAGS.model_dir is None:
        raise app.UsageError("--model_dir is required.")
    if FLAGS.data_format == "imagefolder" and not (FLAGS.train_dir and FLAGS.val_dir):
        raise app.UsageError(
            "--data_format=imagefolder needs --train_dir and --val_dir."
        )
    if FLAGS.data_format == "tfrecord" and not (
        FLAGS.train_pattern and FLAGS.val_pattern
    ):
        raise app.UsageError(
            "--data_format=tfrecord needs --train_pattern and --val_pattern."
        )
    if FLAGS.recalibration_steps < 0:
        raise app.UsageError(
            f"--recalibration_steps must be >= 0. Received: {FLAGS.recalibration_steps}"
        )
    for name in ("image_size", "batch_size", "epochs"):
        if getattr(FLAGS, name) < 1:
            raise app.UsageError(
                f"--{name} must be >= 1. Received: {getattr(FLAGS, name)}"
            )


def main(argv):
    del argv
    _check_flags()
    import tensorflow as tf

    if FLAGS.num_logical_cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * FLAGS.num_logical_cpus
        )
    import keras

    from sttn_keras import training

    strategy, num_workers, worker_index, is_chief = make_strategy(FLAGS.strategy)
    replicas = strategy.num_replicas_in_sync
    logging.info(
        "strategy %s: %d replicas, %d workers (this is worker %d%s)",
        type(strategy).__name__,
        replicas,
        num_workers,
        worker_index,
        ", chief" if is_chief else "",
    )
    if FLAGS.batch_size % replicas:
        raise app.UsageError(
            f"--batch_size={FLAGS.batch_size} must be a multiple of the "
            f"{replicas} replicas."
        )
    keras.utils.set_random_seed(FLAGS.seed)

    if FLAGS.data_format == "imagefolder":
        train_paths, train_labels, classes = list_image_folder(FLAGS.train_dir)
        val_paths, val_labels, _ = list_image_folder(FLAGS.val_dir, classes)
        num_classes = FLAGS.num_classes or len(classes)
        train_records, val_records = (
            (train_paths, train_labels),
            (val_paths, val_labels),
        )
        num_train, num_val = len(train_paths), len(val_paths)
    else:
        train_records = sorted(tf.io.gfile.glob(FLAGS.train_pattern))
        val_records = sorted(tf.io.gfile.glob(FLAGS.val_pattern))
        if not train_records or not val_records:
            raise app.UsageError("No files match --train_pattern or --val_pattern.")
        if num_workers > 1 and len(train_records) < num_workers:
            raise app.UsageError(
                f"{len(train_records)} training files cannot be sharded over "
                f"{num_workers} workers."
            )
        num_classes = FLAGS.num_classes or 1000
        num_train = FLAGS.num_train_examples or IMAGENET_TRAIN
        num_val = FLAGS.num_val_examples or IMAGENET_VAL
    logging.info(
        "%d classes, %d training and %d validation images",
        num_classes,
        num_train,
        num_val,
    )

    common = dict(
        image_size=FLAGS.image_size,
        batch_size=FLAGS.batch_size,
        num_workers=num_workers,
        worker_index=worker_index,
        seed=FLAGS.seed,
        shuffle_buffer=FLAGS.shuffle_buffer,
        data_format=FLAGS.data_format,
        label_offset=FLAGS.label_offset,
    )
    train_ds = make_dataset(train_records, True, **common)
    # One host: the validation set is padded to whole batches (zero-weight
    # blanks), so every image is evaluated once. Several hosts: each
    # evaluates `validation_steps` batches of its own shard.
    val_ds = make_dataset(
        val_records, False, pad_to=num_val if num_workers == 1 else None, **common
    )
    steps_per_epoch = FLAGS.steps_per_epoch or max(1, num_train // FLAGS.batch_size)
    validation_steps = FLAGS.validation_steps or -(-num_val // FLAGS.batch_size)

    if num_workers > 1:
        # Every worker must run the same number of validation steps.
        validation_steps = FLAGS.validation_steps or max(1, num_val // FLAGS.batch_size)
        val_ds = val_ds.repeat()
    total_steps = steps_per_epoch * FLAGS.epochs

    with strategy.scope():
        student = _student(num_classes)
        teacher = _teacher(num_classes)
        optimizer = training.reference_optimizer(
            total_steps,
            learning_rate=FLAGS.learning_rate,
            warmup_steps=min(FLAGS.warmup_epochs * steps_per_epoch, total_steps - 1),
        )
        # Weighted: the validation padding has weight 0 (training data have
        # no weights, so there these are the plain accuracies).
        metrics = [
            keras.metrics.SparseCategoricalAccuracy(name="top1"),
            keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"),
        ]
        if teacher is None:
            trainer = student
            trainer.compile(
                optimizer=optimizer,
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                weighted_metrics=metrics,
            )
        else:
            trainer = training.Distiller(
                student,
                teacher,
                temperature=FLAGS.temperature,
                label_loss_weight=FLAGS.label_loss_weight,
                recalibrate=False,  # done below, on un-augmented images
            )
            trainer.compile(optimizer=optimizer, weighted_metrics=metrics)

    model_dir = FLAGS.model_dir
    tf.io.gfile.makedirs(model_dir)
    callbacks = [
        # Resumes an interrupted run at its last finished epoch (all workers).
        keras.callbacks.BackupAndRestore(os.path.join(model_dir, "backup")),
    ]
    if is_chief:
        callbacks.append(
            keras.callbacks.CSVLogger(os.path.join(model_dir, "log.csv"), append=True)
        )
    recalibration = None
    if FLAGS.recalibration_steps:
        # Every worker reads the same (unsharded, un-augmented) images, so
        # every worker computes the same statistics.
        recal_ds = make_dataset(
            train_records, False, **{**common, "num_workers": 1, "worker_index": 0}
        )
        recalibration = training.BatchNormRecalibration(
            recal_ds, steps=FLAGS.recalibration_steps
        )
        callbacks.append(recalibration)
    start = time.time()
    history = trainer.fit(
        train_ds,
        epochs=FLAGS.epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=val_ds,
        validation_steps=validation_steps,
        callbacks=callbacks,
        verbose=2,
    )
    wall = time.time() - start
    after = None
    if recalibration is not None and recalibration.reports:
        report = recalibration.reports[-1][1]
        logging.info("%s", report)
        scores = trainer.evaluate(
            val_ds, steps=validation_steps, return_dict=True, verbose=0
        )
        after = {
            "val_after_recalibration": {k: float(v) for k, v in scores.items()},
            "recalibration": {
                "samples": report.samples,
                "layers": [dataclasses.asdict(c) for c in report],
            },
        }
    if is_chief:
        student.save(os.path.join(model_dir, "student.keras"))
        summary = {
            "strategy": type(strategy).__name__,
            "replicas": replicas,
            "workers": num_workers,
            "global_batch": FLAGS.batch_size,
            "steps_per_epoch": steps_per_epoch,
            "epochs": FLAGS.epochs,
            "num_classes": num_classes,
            "teacher": FLAGS.teacher,
            "kernel_quantizer": FLAGS.kernel_quantizer,
            "input_quantizer": FLAGS.input_quantizer,
            "wall_seconds": round(wall, 1),
            "history": {
                k: [float(v) for v in vals] for k, vals in history.history.items()
            },
            **(after or {}),
        }
        with tf.io.gfile.GFile(os.path.join(model_dir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=1)
        logging.info(
            "done in %.0fs: %s", wall, {k: v[-1] for k, v in summary["history"].items()}
        )
    return 0


if __name__ == "__main__":
    flags.mark_flags_as_mutual_exclusive(["train_dir", "train_pattern"])
    sys.exit(app.run(main))
