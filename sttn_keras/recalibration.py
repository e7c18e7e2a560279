"""BatchNorm recalibration: exact moving statistics for a trained model.

:func:`recalibrate_batchnorm` re-estimates every BatchNormalization's moving
mean and variance with the weights frozen, in one walk over the graph
(inference mode, each BatchNorm set before its consumers run), and
:class:`BatchNormRecalibration` does it at the end of ``fit``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

import keras
import numpy as np
from keras import ops

from . import _graph_walk
from ._checks import check_number, resolve_verbose

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
    # A Distiller (sttn_keras.distillation) recalibrates its student; read by
    # its marker so that this module need not import that one.
    return model.student if getattr(model, "_is_sttn_distiller", False) else model


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
        check_number("steps", steps, 1, integer=True)
    check_number("batch_size", batch_size, 1, integer=True)


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
    if resolve_verbose(verbose):
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
            check_number("every_n_epochs", every_n_epochs, 1, integer=True)
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
