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

import numbers

import keras
from keras import ops

__all__ = [
    "DistillationLoss",
    "Distiller",
    "cosine_schedule",
    "reference_optimizer",
]

_PACKAGE = "sttn"


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


@keras.saving.register_keras_serializable(package=_PACKAGE)
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
        self, temperature=1.0, reduction="sum_over_batch_size", name="distillation"
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


@keras.saving.register_keras_serializable(package=_PACKAGE)
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

    Args:
        student: The ``keras.Model`` to train; it must output logits.
        teacher: A trained ``keras.Model`` with the same output shape,
            outputting logits.
        temperature: Softmax temperature of the distillation loss (> 0).
        label_loss_weight: Weight of the label loss (>= 0; 0 = reference).
        label_loss: The label loss, a ``keras.losses.Loss``; defaults to
            ``SparseCategoricalCrossentropy(from_logits=True)``.
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
        student,
        teacher,
        temperature=1.0,
        label_loss_weight=0.0,
        label_loss=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
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


def cosine_schedule(initial_lr, total_steps, warmup_steps=0, final_lr_fraction=0.0):
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


def reference_optimizer(total_steps, learning_rate=5e-3, warmup_steps=0):
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
