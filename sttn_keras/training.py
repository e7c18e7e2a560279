"""The STTN training recipe as a reusable API.

The reference recipe (Xu et al., arXiv version and reference code, ResNet-18 on
ImageNet): train from scratch with Adam (lr 5e-3, no weight decay) under a
cosine schedule, batch 256, and a loss that is **only** the distillation loss
to a pretrained float teacher (KL divergence to the teacher's softmax, no
label loss). The pieces:

* :class:`Distiller` wraps a student and a teacher into one ``keras.Model``
  whose ``fit`` minimises the distillation loss (plus an optional label loss).
  It overrides only ``compute_loss``, so the standard Keras ``train_step``
  runs: it works on the TensorFlow and JAX backends and under
  ``tf.distribute`` strategies.
* :func:`cosine_schedule` returns a Keras ``CosineDecay`` with optional linear
  warm-up, and :func:`reference_optimizer` the recipe's Adam with it.
* :func:`recalibrate_batchnorm` re-estimates every BatchNorm's moving
  statistics exactly (weights frozen, topological order, inference mode);
  :class:`BatchNormRecalibration` does it at the end of ``fit``, and the
  :class:`Distiller` does it by default. Do it before evaluating or
  exporting: the exported model folds whatever statistics the model holds.
* The latent-weight clamp needs nothing here: the ``"sttn"`` layers
  (``sttn_keras.layers``) give their latent kernels a ``[-1, 1]`` weight
  constraint, which the Keras optimizer applies after every update, on every
  backend and replica. There is deliberately no callback for it.

Example:

>>> import keras, numpy as np
>>> from sttn_keras import models, training
>>> teacher = models.small_cnn(kernel_quantizer=None, input_quantizer=None)
>>> student = models.small_cnn(kernel_quantizer="sttn")
>>> distiller = training.Distiller(student, teacher)
>>> distiller.compile(
...     optimizer=training.reference_optimizer(total_steps=1000),
...     metrics=["sparse_categorical_accuracy"],
... )
>>> x = np.zeros((8, 28, 28, 1), "float32"); y = np.zeros((8,), "int32")
>>> history = distiller.fit(x, y, epochs=1, verbose=0)
"""

from __future__ import annotations

import dataclasses
import numbers
import sys
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import keras
import numpy as np
from keras import ops

from . import _graph_walk
from ._registry import register_serializable

__all__ = [
    "BatchNormChange",
    "BatchNormRecalibration",
    "DistillationLoss",
    "Distiller",
    "RecalibrationReport",
    "cosine_schedule",
    "recalibrate_batchnorm",
    "reference_optimizer",
]


def _check_number(name, value, low=None, low_inclusive=True, integer=False):
    kinds = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kinds) and not isinstance(value, bool)
    if ok and low is not None:
        ok = value >= low if low_inclusive else value > low
    if not ok:
        what = "an integer" if integer else "a number"
        if low is not None:
            what += f" {'>=' if low_inclusive else '>'} {low}"
        raise ValueError(
            f"Received an invalid value for `{name}`, expected {what}. "
            f"Received: {name}={value!r}"
        )


@register_serializable
class DistillationLoss(keras.losses.Loss):
    """KL divergence from the teacher's softmax to the student's.

    Per example, with logits ``t`` (teacher) and ``s`` (student) and
    temperature ``T``::

        p_t  = softmax(t / T)
        loss = T**2 * sum_k p_t[k] * (log p_t[k] - log_softmax(s / T)[k])

    The ``T**2`` factor (Hinton et al., 2015) keeps the gradient scale
    independent of ``T``; at ``T = 1``, the reference recipe, it is 1. Being a
    ``keras.losses.Loss``, it applies sample weights and the reduction, and
    scales itself for ``tf.distribute`` like every Keras loss.

    Args:
        temperature: Positive float.
        reduction: A Keras loss reduction (default ``"sum_over_batch_size"``).
        name: Name of the loss.

    Call arguments:
        y_true: The teacher's logits, ``(batch, classes)``.
        y_pred: The student's logits, ``(batch, classes)``.
        sample_weight: Optional per-example weights.

    Example:

    >>> import numpy as np
    >>> loss = DistillationLoss()
    >>> float(loss(np.array([[1.0, 0.0]]), np.array([[1.0, 0.0]])))
    0.0
    """

    def __init__(
        self,
        temperature: float = 1.0,
        reduction: str | None = "sum_over_batch_size",
        name: str = "distillation",
    ):
        _check_number("temperature", temperature, 0, low_inclusive=False)
        super().__init__(name=name, reduction=reduction)
        self.temperature = float(temperature)

    def call(self, y_true, y_pred):
        t = ops.convert_to_tensor(y_true, dtype=self.dtype)
        s = ops.convert_to_tensor(y_pred, dtype=self.dtype)
        log_p_teacher = ops.log_softmax(t / self.temperature, axis=-1)
        log_p_student = ops.log_softmax(s / self.temperature, axis=-1)
        kl = ops.sum(ops.exp(log_p_teacher) * (log_p_teacher - log_p_student), axis=-1)
        return kl * (self.temperature**2)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


@register_serializable
class Distiller(keras.Model):
    """Trains a student to match a frozen teacher (knowledge distillation).

    ``distiller(x)`` is the student's output; ``fit`` minimises::

        loss = DistillationLoss(T)(teacher(x), student(x))
               + label_loss_weight * label_loss(y, student(x))
               + the student's regularisation losses

    With the defaults (``temperature=1``, ``label_loss_weight=0``) this is the
    STTN reference recipe: distillation alone, the labels unused (``fit``
    still accepts them, for the metrics). The teacher runs in inference mode
    and is frozen: the constructor sets ``teacher.trainable = False``, so the
    optimizer never sees its weights. Only ``compute_loss`` is overridden, so
    Keras's own ``train_step`` / ``test_step`` run, on every backend and
    under ``tf.distribute``. Metrics compiled into the distiller see the
    labels and the student's predictions.

    After training, use (save, export, ternarize) ``distiller.student``.

    BatchNorm recalibration is part of the recipe and on by default
    (``recalibrate=True``): when ``fit`` receives its training data as a
    numpy array or a ``tf.data.Dataset``, it appends a
    :class:`BatchNormRecalibration` callback that re-estimates the student's
    BatchNorm statistics over that data once training ends (exactly, in
    inference mode, see :func:`recalibrate_batchnorm`), so that the student's
    inference accuracy, and its export, match what training reached. The
    callback's report is in ``distiller.recalibration_report``. With any
    other data (a generator, a ``PyDataset``) ``fit`` warns and leaves it to
    you: call ``distiller.recalibrate_batchnorm(data)``. It is skipped when
    the student has no BatchNorm layer or ``callbacks`` already holds a
    ``BatchNormRecalibration``. It reads all the training data once per
    chain position of BatchNorm (see :func:`recalibrate_batchnorm`); on a
    large data set pass your own
    ``BatchNormRecalibration(data, steps=...)`` in ``callbacks`` to bound it.

    Args:
        student: The ``keras.Model`` to train; it must output logits.
        teacher: A trained ``keras.Model`` with the same output shape,
            outputting logits.
        temperature: Softmax temperature of the distillation loss (> 0).
        label_loss_weight: Weight of the label loss (>= 0; 0 = reference).
        label_loss: The label loss, a ``keras.losses.Loss``; defaults to
            ``SparseCategoricalCrossentropy(from_logits=True)``.
        recalibrate: Re-estimate the student's BatchNorm statistics over the
            training data at the end of ``fit`` (default ``True``).
        **kwargs: Passed to ``keras.Model`` (for example ``name``).

    Example:

    >>> import keras, numpy as np
    >>> teacher = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> student = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    >>> distiller = Distiller(student, teacher, temperature=2.0)
    >>> distiller.compile(optimizer="adam", metrics=["accuracy"])
    >>> x = np.random.rand(16, 4).astype("float32")
    >>> y = np.random.randint(0, 3, 16)
    >>> history = distiller.fit(x, y, epochs=2, verbose=0)
    >>> tuple(distiller(x).shape)
    (16, 3)
    """

    def __init__(
        self,
        student: keras.Model,
        teacher: keras.Model,
        temperature: float = 1.0,
        label_loss_weight: float = 0.0,
        label_loss: keras.losses.Loss | None = None,
        recalibrate: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(recalibrate, bool):
            raise ValueError(
                "Received an invalid value for `recalibrate`, expected a bool. "
                f"Received: recalibrate={recalibrate!r}"
            )
        for name, value in (("student", student), ("teacher", teacher)):
            if not isinstance(value, keras.Model):
                raise ValueError(
                    f"Received an invalid value for `{name}`, expected a "
                    f"keras.Model. Received: {name}={value!r}"
                )
        _check_number("temperature", temperature, 0, low_inclusive=False)
        _check_number("label_loss_weight", label_loss_weight, 0)
        if label_loss is None:
            label_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        elif not isinstance(label_loss, keras.losses.Loss):
            label_loss = keras.losses.deserialize(label_loss)
        s_shape, t_shape = _output_shape(student), _output_shape(teacher)
        if s_shape is not None and t_shape is not None and s_shape[1:] != t_shape[1:]:
            raise ValueError(
                "The student and the teacher must output the same shape. "
                f"Received: student output {s_shape}, teacher output {t_shape}"
            )
        teacher.trainable = False
        self.student = student
        self.teacher = teacher
        self.temperature = float(temperature)
        self.label_loss_weight = float(label_loss_weight)
        self.label_loss = label_loss
        self.distillation_loss = DistillationLoss(self.temperature)
        self.recalibrate = recalibrate
        self.recalibration_report = None

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def compile(self, *args, **kwargs):
        """Configures training like ``keras.Model.compile``, without ``loss``.

        The loss is the distiller's (see the class docstring); set the label
        loss through the constructor's ``label_loss`` and
        ``label_loss_weight``.

        Args:
            *args: ``keras.Model.compile`` arguments.
            **kwargs: ``keras.Model.compile`` arguments.

        Raises:
            ValueError: If ``loss`` or ``loss_weights`` is passed.
        """
        loss = args[1] if len(args) > 1 else kwargs.get("loss")
        if loss is not None:
            raise ValueError(
                "A Distiller computes its own loss: do not pass `loss` to "
                "compile(); use Distiller(label_loss=..., label_loss_weight=...). "
                f"Received: loss={loss!r}"
            )
        if kwargs.get("loss_weights") is not None:
            raise ValueError(
                "A Distiller computes its own loss: use "
                "Distiller(label_loss_weight=...) instead of `loss_weights`. "
                f"Received: loss_weights={kwargs['loss_weights']!r}"
            )
        super().compile(*args, **kwargs)

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        **kwargs,
    ) -> keras.callbacks.History:
        """``keras.Model.fit``, then BatchNorm recalibration (see the class doc).

        Args:
            x: Training inputs, as for ``keras.Model.fit``.
            y: Targets, as for ``keras.Model.fit``.
            batch_size: As for ``keras.Model.fit``.
            epochs: As for ``keras.Model.fit``.
            verbose: As for ``keras.Model.fit``.
            callbacks: As for ``keras.Model.fit``.
            validation_split: As for ``keras.Model.fit``; the held-out part
                is left out of the recalibration data too.
            **kwargs: Other ``keras.Model.fit`` arguments.

        Returns:
            The ``History`` of ``keras.Model.fit``.
        """
        callbacks = list(callbacks or [])
        recal = self._recalibration_callback(
            x, batch_size, callbacks, validation_split, kwargs.get("steps_per_epoch")
        )
        if recal is not None:
            callbacks.append(recal)
        history = super().fit(
            x,
            y,
            batch_size=batch_size,
            epochs=epochs,
            verbose=verbose,
            callbacks=callbacks,
            validation_split=validation_split,
            **kwargs,
        )
        if recal is not None and recal.reports:
            self.recalibration_report = recal.reports[-1][1]
        return history

    def _recalibration_callback(
        self, x, batch_size, callbacks, validation_split, steps_per_epoch
    ):
        if not self.recalibrate or any(
            isinstance(c, BatchNormRecalibration) for c in callbacks
        ):
            return None
        if not any(
            isinstance(layer, keras.layers.BatchNormalization)
            for layer in _all_layers(self.student)
        ):
            return None
        if isinstance(x, np.ndarray):
            if validation_split:
                x = x[: int(len(x) * (1.0 - validation_split))]
            return BatchNormRecalibration(x, batch_size=batch_size or 128)
        if _is_dataset(x):
            return BatchNormRecalibration(x, steps=steps_per_epoch)
        warnings.warn(
            "Distiller.fit: BatchNorm recalibration (recalibrate=True) needs "
            "re-readable training data (a numpy array or a tf.data.Dataset). "
            f"Received: x of type {type(x).__name__}; call "
            "distiller.recalibrate_batchnorm(data) after fit, or pass "
            "recalibrate=False to silence this warning.",
            stacklevel=2,
        )
        return None

    def recalibrate_batchnorm(
        self, data: Any, *, steps: int | None = None, batch_size: int = 128
    ) -> RecalibrationReport:
        """Re-estimates the student's BatchNorm statistics over ``data``.

        Same as ``recalibrate_batchnorm(distiller.student, data, ...)``.

        Args:
            data: As in :func:`recalibrate_batchnorm`.
            steps: As in :func:`recalibrate_batchnorm`.
            batch_size: As in :func:`recalibrate_batchnorm`.

        Returns:
            A :class:`RecalibrationReport`.
        """
        report = recalibrate_batchnorm(
            self.student, data, steps=steps, batch_size=batch_size
        )
        self.recalibration_report = report
        return report

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        if y_pred is None:
            y_pred = self(x, training=training)
        teacher_logits = ops.stop_gradient(self.teacher(x, training=False))
        loss = self.distillation_loss(teacher_logits, y_pred, sample_weight)
        if self.label_loss_weight > 0:
            if y is None:
                raise ValueError(
                    "Distiller(label_loss_weight>0) needs labels: call fit() "
                    "with targets `y`. Received: y=None"
                )
            loss = loss + self.label_loss_weight * self.label_loss(
                y, y_pred, sample_weight
            )
        for extra in self.losses:
            loss = loss + _scale_for_distribution(ops.cast(extra, loss.dtype))
        return loss

    def get_config(self):
        return {
            **super().get_config(),
            "student": keras.saving.serialize_keras_object(self.student),
            "teacher": keras.saving.serialize_keras_object(self.teacher),
            "temperature": self.temperature,
            "label_loss_weight": self.label_loss_weight,
            "label_loss": keras.losses.serialize(self.label_loss),
            "recalibrate": self.recalibrate,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        for key in ("student", "teacher"):
            config[key] = keras.saving.deserialize_keras_object(
                config[key], custom_objects=custom_objects
            )
        config["label_loss"] = keras.losses.deserialize(config["label_loss"])
        return cls(**config)


def _output_shape(model):
    try:
        shape = model.output_shape
    except (AttributeError, ValueError, RuntimeError):
        return None  # A subclassed model that was not called yet.
    return tuple(shape) if isinstance(shape, (tuple, list)) else None


def _scale_for_distribution(value):
    # Keras scales each loss by 1 / num_replicas under tf.distribute (the
    # replicas' gradients are summed); regularisation losses added by hand
    # need the same treatment. Mirrors keras.losses' own (private) helper.
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            value = value * (1.0 / replicas)
    return value


def cosine_schedule(
    initial_lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    final_lr_fraction: float = 0.0,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Cosine learning-rate decay with an optional linear warm-up.

    ``lr(step)`` rises linearly from 0 to ``initial_lr`` over the first
    ``warmup_steps`` steps, then follows
    ``initial_lr * (f + (1 - f) * (1 + cos(pi * t)) / 2)`` with
    ``t = (step - warmup_steps) / (total_steps - warmup_steps)`` and ``f`` =
    ``final_lr_fraction``, and stays at ``f * initial_lr`` after
    ``total_steps``. It is a ``keras.optimizers.schedules.CosineDecay``, so it
    serialises with the optimizer.

    Args:
        initial_lr: Peak learning rate, > 0.
        total_steps: Optimizer steps of the whole run (warm-up included), > 0.
        warmup_steps: Steps of linear warm-up, in ``[0, total_steps)``.
        final_lr_fraction: Final learning rate as a fraction of
            ``initial_lr``, in ``[0, 1]``.

    Returns:
        A ``keras.optimizers.schedules.LearningRateSchedule``.

    Example:

    >>> schedule = cosine_schedule(1e-3, total_steps=100)
    >>> round(float(schedule(50)), 6)
    0.0005
    """
    _check_number("initial_lr", initial_lr, 0, low_inclusive=False)
    _check_number("total_steps", total_steps, 1, integer=True)
    _check_number("warmup_steps", warmup_steps, 0, integer=True)
    _check_number("final_lr_fraction", final_lr_fraction, 0)
    if warmup_steps >= total_steps:
        raise ValueError(
            "Received an invalid value for `warmup_steps`, expected fewer than "
            f"total_steps={total_steps}. Received: warmup_steps={warmup_steps}"
        )
    if final_lr_fraction > 1:
        raise ValueError(
            "Received an invalid value for `final_lr_fraction`, expected a "
            f"number in [0, 1]. Received: final_lr_fraction={final_lr_fraction}"
        )
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=float(initial_lr),
            decay_steps=int(total_steps),
            alpha=float(final_lr_fraction),
        )
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=int(total_steps - warmup_steps),
        alpha=float(final_lr_fraction),
        warmup_target=float(initial_lr),
        warmup_steps=int(warmup_steps),
    )


def reference_optimizer(
    total_steps: int, learning_rate: float = 5e-3, warmup_steps: int = 0
) -> keras.optimizers.Optimizer:
    """The recipe's optimizer: Adam, no weight decay, cosine schedule.

    Args:
        total_steps: Optimizer steps of the whole run.
        learning_rate: Peak learning rate (reference: 5e-3 at batch 256).
        warmup_steps: Linear warm-up steps (reference: 0).

    Returns:
        A ``keras.optimizers.Adam``.

    Example:

    >>> optimizer = reference_optimizer(total_steps=1000)
    >>> type(optimizer).__name__
    'Adam'
    """
    return keras.optimizers.Adam(
        learning_rate=cosine_schedule(learning_rate, total_steps, warmup_steps)
    )


# ---------------------------------------------------------------------------
# BatchNorm re-estimation.
#
# Why: a BatchNormalization layer normalises with the statistics of the batch
# while training and with its moving averages at inference. The moving
# averages are an exponential average over the last ~1/(1 - momentum) steps,
# taken while the weights were still moving; a ternary layer after the BN
# (hard thresholds at +-0.5) turns a small mismatch into many flipped trits.
# Re-estimating the statistics once, with the weights frozen, closes most of
# the train/inference gap (see README, "BatchNorm recalibration").


@dataclasses.dataclass(frozen=True)
class BatchNormChange:
    """How far one BatchNormalization layer's moving statistics moved.

    Attributes:
        layer: The layer's name.
        channels: Number of normalised channels.
        mean_max_abs_change: ``max |new_mean - old_mean|`` over channels.
        mean_mean_abs_change: ``mean |new_mean - old_mean|`` over channels.
        variance_max_abs_change: ``max |new_var - old_var|`` over channels.
        variance_mean_abs_change: ``mean |new_var - old_var|`` over channels.
        variance_max_ratio: ``max(new_var / old_var, old_var / new_var)``
            over channels (1.0: unchanged).

    Example:

    >>> m = keras.Sequential(
    ...     [keras.Input((3,)), keras.layers.BatchNormalization(name="bn")])
    >>> change = recalibrate_batchnorm(m, np.ones((8, 3), "float32"))[0]
    >>> change.layer, change.channels, round(change.mean_max_abs_change, 3)
    ('bn', 3, 1.0)
    """

    layer: str
    channels: int
    mean_max_abs_change: float
    mean_mean_abs_change: float
    variance_max_abs_change: float
    variance_mean_abs_change: float
    variance_max_ratio: float


@dataclasses.dataclass(frozen=True)
class RecalibrationReport:
    """What :func:`recalibrate_batchnorm` did, one row per BatchNorm layer.

    Iterating over the report (or indexing it) gives the
    :class:`BatchNormChange` rows in topological order; ``str(report)`` is a
    table.

    Attributes:
        layers: One :class:`BatchNormChange` per BatchNormalization layer.
        samples: Number of examples the statistics were computed over.
        batches: Number of batches read per pass.
        passes: Number of passes over the data (always 1: the graph is
            walked once, each layer running once per batch).

    Example:

    >>> m = keras.Sequential(
    ...     [keras.Input((3,)), keras.layers.BatchNormalization(name="bn")])
    >>> report = recalibrate_batchnorm(m, np.ones((8, 3), "float32"), batch_size=4)
    >>> len(report), report.samples, report.batches, report.passes
    (1, 8, 2, 1)
    """

    layers: list
    samples: int
    batches: int
    passes: int

    def __iter__(self) -> Iterator[BatchNormChange]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index):
        return self.layers[index]

    def __str__(self) -> str:
        head = (
            f"BatchNorm recalibration: {len(self.layers)} layer(s), "
            f"{self.samples} samples, {self.batches} batch(es) per pass, "
            f"{self.passes} pass(es)"
        )
        width = max([5] + [len(c.layer) for c in self.layers])
        rows = [
            head,
            (
                f"  {'layer'.ljust(width)}  {'ch':>5}  {'|dmean| max':>11}  "
                f"{'mean':>9}  {'|dvar| max':>11}  {'mean':>9}  {'var ratio':>9}"
            ),
        ]
        for c in self.layers:
            rows.append(
                f"  {c.layer.ljust(width)}  {c.channels:>5}  "
                f"{c.mean_max_abs_change:>11.4g}  {c.mean_mean_abs_change:>9.3g}  "
                f"{c.variance_max_abs_change:>11.4g}  "
                f"{c.variance_mean_abs_change:>9.3g}  {c.variance_max_ratio:>9.3g}"
            )
        return "\n".join(rows)


class _BatchMoments(keras.layers.Layer):
    """Per-channel (count, mean, M2) of one batch, shape ``(1, 3, channels)``.

    M2 is the sum of squared deviations from the batch mean; batches are
    merged exactly with Chan et al.'s formula in :func:`_merge_moments`,
    which avoids the cancellation of ``E[x^2] - E[x]^2``. The leading axis of
    size 1 lets ``predict_on_batch`` concatenate per-replica results under a
    ``tf.distribute`` strategy.
    """

    def __init__(self, axis, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        axes = tuple(i for i in range(len(x.shape)) if i != self.axis)
        mean = ops.mean(x, axis=axes, keepdims=True)
        m2 = ops.sum(ops.square(x - mean), axis=axes)
        # Examples per channel, without a tensor of ones the size of x.
        per_channel = ops.cast(ops.size(x), "float32") / ops.cast(
            ops.shape(x)[self.axis], "float32"
        )
        count = ops.ones_like(m2) * per_channel
        return ops.expand_dims(
            ops.stack([count, ops.reshape(mean, ops.shape(m2)), m2]), 0
        )

    def compute_output_shape(self, input_shape):
        return (1, 3, input_shape[self.axis])


def _merge_moments(state, rows):
    """Chan et al.'s exact merge of (count, mean, M2) rows, in float64."""
    for row in np.asarray(rows, dtype="float64").reshape(-1, 3, rows.shape[-1]):
        n_b, mean_b, m2_b = row
        if not np.any(n_b):
            continue
        if state is None:
            state = (n_b, mean_b, m2_b)
            continue
        n_a, mean_a, m2_a = state
        n = n_a + n_b
        delta = mean_b - mean_a
        state = (
            n,
            mean_a + delta * (n_b / n),
            m2_a + m2_b + delta**2 * (n_a * n_b / n),
        )
    return state


def _unwrap(model):
    return model.student if isinstance(model, Distiller) else model


def _describe(model):
    return f"<{type(model).__name__} name={getattr(model, 'name', '?')}>"


def _find_batchnorms(model):
    """The model's BatchNormalization layers, in topological order."""
    if not isinstance(model, keras.Model):
        raise ValueError(
            "Received an invalid value for `model`, expected a keras.Model. "
            f"Received: model={model!r}"
        )
    if not _graph_walk.is_graph_model(model):
        raise ValueError(
            "recalibrate_batchnorm needs a functional or Sequential model whose "
            "inputs are known (a subclassed model has no layer graph to read "
            "the BatchNorm inputs from). Build the model (keras.Input) first. "
            f"Received: model={_describe(model)}"
        )
    top = [
        layer
        for layer in _all_layers(model)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    hidden = [
        layer.name
        for layer in _all_layers(model)
        if isinstance(layer, keras.Model)
        and not _graph_walk.is_graph_model(layer)
        and any(isinstance(m, keras.layers.BatchNormalization) for m in layer.layers)
    ]
    if hidden:
        raise ValueError(
            "recalibrate_batchnorm walks functional and Sequential models, "
            f"nested ones included; model '{model.name}' has BatchNorms inside "
            f"the subclassed nested model(s) {hidden}, whose graph cannot be "
            "read. Rebuild them as functional models. "
            f"Received: model={_describe(model)}"
        )
    if not top:
        raise ValueError(
            "Received an invalid value for `model`, expected a model with at "
            "least one BatchNormalization layer (there is nothing to "
            f"recalibrate). Received: model={_describe(model)} with layers "
            f"{[layer.name for layer in model.layers]}"
        )
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ValueError(
            "recalibrate_batchnorm needs a functional or Sequential model whose "
            "inputs are known (a subclassed model has no layer graph to read "
            "the BatchNorm inputs from). Build the model (keras.Input) first. "
            f"Received: model={_describe(model)}"
        )
    if len(inputs) != 1:
        raise ValueError(
            "recalibrate_batchnorm supports single-input models. Received: "
            f"model={_describe(model)} with {len(inputs)} inputs"
        )
    return top


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if _graph_walk.is_graph_model(layer):
            yield from _all_layers(layer)


def _bn_input(bn):
    try:
        return bn.input
    except (AttributeError, ValueError) as e:
        raise ValueError(
            f"Cannot recalibrate BatchNormalization layer '{bn.name}': its "
            "input is not a single tensor of the model's graph (a layer "
            "shared between several calls has one statistic per call). "
            f"Underlying error: {e}"
        ) from None


def _is_dataset(data):
    return hasattr(data, "as_numpy_iterator") and hasattr(data, "element_spec")


def _take_x(element):
    if isinstance(element, (tuple, list)):
        if not element:
            raise ValueError(
                "Received an invalid value for `data`, expected batches of x "
                "or (x, y). Received: an empty tuple"
            )
        return element[0]
    return element


def _check_batch(x, expected, model, what="a batch"):
    shape = tuple(x.shape)
    ok = len(shape) == len(expected) and all(
        e is None or e == s for e, s in zip(expected, shape)
    )
    if not ok:
        hint = ""
        if len(shape) == len(expected) - 1:
            hint = " (one axis short: an unbatched tf.data.Dataset? call .batch())"
        raise ValueError(
            "Received an invalid value for `data`, expected batches of shape "
            f"{tuple(expected)} to fit the input of model '{model.name}'. "
            f"Received: {what} of shape {shape}{hint}"
        )


def _batches(data, batch_size, steps, expected, model):
    """Yields numpy batches of x from an array, (x, y), a Dataset or an iterable."""
    if (
        isinstance(data, tuple)
        and len(data) in (2, 3)
        and all(isinstance(d, np.ndarray) for d in data)
    ):
        data = data[0]  # (x, y) or (x, y, sample_weight) arrays.
    if isinstance(data, np.ndarray) or (
        hasattr(data, "__array__") and hasattr(data, "shape") and not _is_dataset(data)
    ):
        array = np.asarray(data)
        if array.ndim == 0 or len(array) == 0:
            raise ValueError(
                "Received an invalid value for `data`, expected a non-empty "
                f"array of inputs. Received: data of shape {array.shape}"
            )
        _check_batch(array, expected, model, what="data")
        n = len(array)
        if steps is not None:
            n = min(n, steps * batch_size)
        for start in range(0, n, batch_size):
            yield array[start : min(start + batch_size, n)]
        return
    if _is_dataset(data):
        iterator = data.as_numpy_iterator()
    elif isinstance(data, Iterable):
        iterator = iter(data)
    else:
        raise ValueError(
            "Received an invalid value for `data`, expected a numpy array, a "
            "tf.data.Dataset, or an iterable (for example a generator) of x or "
            f"(x, y) batches. Received: data={type(data).__name__}"
        )
    for i, element in enumerate(iterator):
        if steps is not None and i >= steps:
            break
        x = np.asarray(keras.ops.convert_to_numpy(_take_x(element)))
        _check_batch(x, expected, model)
        yield x


def _check_recal_args(steps, batch_size):
    if steps is not None:
        _check_number("steps", steps, 1, integer=True)
    _check_number("batch_size", batch_size, 1, integer=True)


def recalibrate_batchnorm(
    model: keras.Model,
    data: Any,
    *,
    steps: int | None = None,
    batch_size: int = 128,
    verbose: int | str = "auto",
) -> RecalibrationReport:
    """Re-estimates every BatchNorm's moving mean and variance, exactly.

    Sets ``moving_mean`` and ``moving_variance`` of each
    ``BatchNormalization`` layer to the mean and the (biased, as in Keras's
    training step) variance of that layer's input over **all** the examples
    of ``data``: the statistics are accumulated exactly (Chan et al.'s
    parallel merge, in float64), not averaged with a momentum, so the result
    does not depend on the batch size or the number of steps. Weights,
    ``gamma`` and ``beta`` are not touched.

    Order, on purpose: the layers are set **in topological order, with the
    network in inference mode**, each BatchNorm's input statistics computed
    after every BatchNorm upstream of it has been recalibrated. The inputs a
    BatchNorm sees at inference are computed with the upstream BNs' moving
    statistics, so this is the only order in which each layer's statistics
    equal those of the inputs it will actually normalise (and the
    ternarising thresholds after it see the distribution they were trained
    for). A single pass with every BN in training mode would instead
    measure inputs normalised by *batch* statistics upstream, which is not
    what the exported model computes.

    Cost: **one pass** over ``data`` whatever the depth. The graph is walked
    once, operation by operation, holding each operation's outputs for all
    of ``data`` (computed ``batch_size`` examples at a time) until its last
    consumer has run; each BatchNorm's statistics are set from its held
    inputs before it and its consumers run. Memory: the examples times the
    widest set of tensors alive at one point of the graph (DenseNet121 at
    224x224 on 256 examples: 4.0 GB peak resident, measured, TensorFlow
    included); use ``steps`` to bound it.

    Works on any Keras backend (the math is ``keras.ops``), and under a
    ``tf.distribute`` strategy (plain or ``synchronized=True`` BNs: the
    statistics are computed over the whole data and assigned to every
    replica's copy). The model must be a functional or ``Sequential`` model
    with one input; nested functional / Sequential models (a backbone inside
    a classifier) are walked inside. A :class:`Distiller` is accepted and
    recalibrates its student (the teacher is left alone).

    Args:
        model: The model (or a :class:`Distiller`) to recalibrate in place.
        data: The inputs, typically the training images without
            augmentation: a numpy array of inputs (or an ``(x, y)`` tuple of
            arrays), a batched ``tf.data.Dataset``, or an iterable / generator
            of batches; the elements may be ``x`` or ``(x, y)`` /
            ``(x, y, sample_weight)``, only ``x`` is used. A generator is
            consumed once; an infinite one needs ``steps``.
        steps: Number of batches to use; ``None`` uses all of ``data``.
        batch_size: Batch size used to split a numpy array (ignored for
            datasets and generators, which are already batched).
        verbose: ``1`` shows a progress bar (layers done), ``0`` nothing,
            ``"auto"`` a bar only when standard output is a terminal.

    Returns:
        A :class:`RecalibrationReport`: per layer, how far the mean and the
        variance moved; ``print(report)`` shows a table.

    Raises:
        ValueError: If the model has no BatchNormalization layer, is not a
            single-input functional / Sequential model, or if a batch of
            ``data`` does not have the model's input shape.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([
    ...     keras.Input((4,)), keras.layers.Dense(3),
    ...     keras.layers.BatchNormalization()])
    >>> x = np.random.default_rng(0).normal(size=(100, 4)).astype("float32")
    >>> report = recalibrate_batchnorm(model, x, batch_size=32)
    >>> mean = keras.ops.convert_to_numpy(model.layers[1].moving_mean)
    >>> inputs = keras.ops.convert_to_numpy(model.layers[0](x))
    >>> bool(np.allclose(mean, inputs.mean(0), atol=1e-5))
    True
    >>> report.samples
    100
    """
    model = _unwrap(model)
    _check_recal_args(steps, batch_size)
    _find_batchnorms(model)
    expected = tuple(model.inputs[0].shape)
    batches = [x for x in _batches(data, batch_size, steps, expected, model) if len(x)]
    if not batches:
        raise ValueError(
            "Received an invalid value for `data`, expected at least one "
            "non-empty batch. Received: no data"
        )
    bar = None
    if _resolve_verbose(verbose):
        bar = keras.utils.Progbar(
            _graph_walk.count_operations(model), unit_name="layer"
        )
    changes = {}

    def set_statistics(bn, inputs):
        # Runs before `bn` does: its consumers see the new statistics.
        moments = _BatchMoments(_channel_axis(bn))
        state = None
        for x in inputs:
            state = _merge_moments(state, np.asarray(ops.convert_to_numpy(moments(x))))
        count, mean, m2 = state
        changes[bn.name] = _assign_stats(bn, mean, m2 / count)

    _graph_walk.walk(
        model,
        batches,
        set_statistics,
        progress=None if bar is None else lambda: bar.add(1),
    )
    return RecalibrationReport(
        layers=list(changes.values()),
        samples=sum(len(x) for x in batches),
        batches=len(batches),
        passes=1,
    )


def _recalibrate_by_waves(model, x, batch_size=128):
    """The method before the graph walk, kept as the reference of the
    equivalence test and the benchmark (benchmarks/recalibration.py): one
    pass over ``x`` (an array) per "wave" of BatchNorms whose upstream BNs
    are set, each pass a probe model from the input to the wave's BN
    inputs. Flat models only. Returns the number of passes."""
    bns = _find_batchnorms(model)
    upstream = {
        bn.name: {
            ly.name
            for ly in keras.Model(model.inputs, _bn_input(bn)).layers
            if isinstance(ly, keras.layers.BatchNormalization)
        }
        for bn in bns
    }
    done, passes = set(), 0
    while len(done) < len(bns):
        wave = [b for b in bns if b.name not in done and upstream[b.name] <= done]
        probe = keras.Model(
            model.inputs,
            [_BatchMoments(_channel_axis(b))(_bn_input(b)) for b in wave],
        )
        states = [None] * len(wave)
        for start in range(0, len(x), batch_size):
            out = probe.predict_on_batch(x[start : start + batch_size])
            out = out if isinstance(out, (list, tuple)) else [out]
            for i, o in enumerate(out):
                states[i] = _merge_moments(states[i], np.asarray(o))
        for bn, (count, mean, m2) in zip(wave, states):
            _assign_stats(bn, mean, m2 / count)
        done |= {b.name for b in wave}
        passes += 1
    return passes


def _resolve_verbose(verbose):
    """``"auto"``: a progress bar only when stdout is a terminal."""
    if verbose == "auto":
        return bool(getattr(sys.stdout, "isatty", lambda: False)())
    if verbose in (0, 1, False, True):
        return bool(verbose)
    raise ValueError(
        'Received an invalid value for `verbose`, expected "auto", 0 or 1. '
        f"Received: verbose={verbose!r}"
    )


def _channel_axis(bn):
    ndim = len(_bn_input(bn).shape)
    axis = bn.axis
    if isinstance(axis, (list, tuple)):
        if len(axis) != 1:
            raise ValueError(
                f"BatchNormalization layer '{bn.name}' normalises over several "
                f"axes; recalibration supports one. Received: axis={axis}"
            )
        axis = axis[0]
    return axis % ndim


def _assign_stats(bn, mean, variance):
    old_mean = np.asarray(ops.convert_to_numpy(bn.moving_mean), "float64")
    old_var = np.asarray(ops.convert_to_numpy(bn.moving_variance), "float64")
    bn.moving_mean.assign(mean.astype(bn.moving_mean.dtype))
    bn.moving_variance.assign(variance.astype(bn.moving_variance.dtype))
    tiny = np.finfo("float32").tiny
    ratio = np.maximum(variance, tiny) / np.maximum(old_var, tiny)
    return BatchNormChange(
        layer=bn.name,
        channels=int(mean.shape[0]),
        mean_max_abs_change=float(np.max(np.abs(mean - old_mean))),
        mean_mean_abs_change=float(np.mean(np.abs(mean - old_mean))),
        variance_max_abs_change=float(np.max(np.abs(variance - old_var))),
        variance_mean_abs_change=float(np.mean(np.abs(variance - old_var))),
        variance_max_ratio=float(np.max(np.maximum(ratio, 1.0 / ratio))),
    )


class BatchNormRecalibration(keras.callbacks.Callback):
    """Recalibrates BatchNorm statistics at the end of ``fit`` (or every N epochs).

    Runs :func:`recalibrate_batchnorm` on the model being trained (the
    student of a :class:`Distiller`) with ``data``. With ``every_n_epochs``
    it also runs after every N-th epoch (after that epoch's validation, so
    the recalibration shows in the next epoch's validation metrics); the
    moving averages then keep updating during the following epochs, which is
    harmless. It always runs once at the end of training, unless it just ran
    after the last epoch. The model is checked when training begins, so a
    model without BatchNorm fails before the first step, not after the last.

    Args:
        data: As in :func:`recalibrate_batchnorm`. With ``every_n_epochs``
            it must be re-iterable (an array or a ``tf.data.Dataset``, not a
            generator).
        every_n_epochs: Also recalibrate after every N-th epoch; ``None``
            (default) only at the end of training.
        steps: Batches per recalibration; ``None`` uses all of ``data``.
        batch_size: Batch size for array data.
        verbose: 1 prints each report.

    Attributes:
        reports: ``(epoch, RecalibrationReport)`` pairs, in order; ``epoch``
            counts completed epochs.

    Example:

    >>> import keras, numpy as np
    >>> model = keras.Sequential([
    ...     keras.Input((4,)), keras.layers.Dense(8),
    ...     keras.layers.BatchNormalization(), keras.layers.Dense(2)])
    >>> model.compile("adam", "mse")
    >>> x = np.random.rand(64, 4).astype("float32"); y = np.random.rand(64, 2)
    >>> callback = BatchNormRecalibration(x)
    >>> history = model.fit(x, y, epochs=2, verbose=0, callbacks=[callback])
    >>> [epoch for epoch, _ in callback.reports]
    [2]
    """

    def __init__(
        self,
        data: Any,
        *,
        every_n_epochs: int | None = None,
        steps: int | None = None,
        batch_size: int = 128,
        verbose: int = 0,
    ):
        super().__init__()
        _check_recal_args(steps, batch_size)
        if every_n_epochs is not None:
            _check_number("every_n_epochs", every_n_epochs, 1, integer=True)
            if isinstance(data, Iterator):
                raise ValueError(
                    "Received an invalid value for `data`, expected re-iterable "
                    "data (an array or a tf.data.Dataset) with `every_n_epochs`: "
                    "a generator is consumed by the first recalibration. "
                    f"Received: data={type(data).__name__}"
                )
        self.data = data
        self.every_n_epochs = every_n_epochs
        self.steps = steps
        self.batch_size = batch_size
        self.verbose = verbose
        self.reports = []
        self._epochs_done = 0
        self._fresh = False

    def _run(self):
        report = recalibrate_batchnorm(
            self.model,
            self.data,
            steps=self.steps,
            batch_size=self.batch_size,
            verbose=0,
        )
        self.reports.append((self._epochs_done, report))
        self._fresh = True
        if self.verbose:
            print(report)
        return report

    def on_train_begin(self, logs=None):
        model = _unwrap(self.model)
        _find_batchnorms(model)
        if isinstance(self.data, np.ndarray):
            _check_batch(self.data, tuple(model.inputs[0].shape), model, what="data")

    def on_epoch_begin(self, epoch, logs=None):
        self._fresh = False

    def on_epoch_end(self, epoch, logs=None):
        self._epochs_done = epoch + 1
        if self.every_n_epochs and self._epochs_done % self.every_n_epochs == 0:
            self._run()

    def on_train_end(self, logs=None):
        if not self._fresh:
            self._run()
