"""Knowledge distillation, the loss of the STTN recipe.

:class:`DistillationLoss` is the KL divergence to a float teacher's softmax;
:class:`Distiller` wraps a student and a teacher into one ``keras.Model``
whose standard ``fit`` minimises it (TensorFlow and JAX backends,
``tf.distribute``), and recalibrates the student's BatchNorms at the end
(:mod:`sttn_keras.recalibration`).
"""

from __future__ import annotations

import warnings
from typing import Any

import keras
import numpy as np
from keras import ops

from ._checks import check_number
from ._registry import register_serializable
from .recalibration import (
    BatchNormRecalibration,
    RecalibrationReport,
    _all_layers,
    _is_dataset,
    recalibrate_batchnorm,
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
        check_number("temperature", temperature, 0, low_inclusive=False)
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

    # Read by sttn_keras.recalibration (which does not import this module).
    _is_sttn_distiller = True

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
        check_number("temperature", temperature, 0, low_inclusive=False)
        check_number("label_loss_weight", label_loss_weight, 0)
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
