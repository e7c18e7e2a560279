"""Per-layer precision, memory and MAC summary of a (ternary) Keras model."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import keras

# The export choices (sttn_keras.export.to_tflite) that change the file:
# how the layers that stay float store their weights, and how trits are
# packed.
from .export.op_format import FLOAT_LAYERS, INT8_MIN_ELEMENTS, WEIGHT_ENCODINGS
from .export.op_support import unsupported_reason
from .export.packing import weight_bytes as _trit_bytes
from .layers import TernaryLayerMixin

__all__ = [
    "FloatLayer",
    "FloatLayersReport",
    "LayerSummary",
    "ModelSummary",
    "float_layers_report",
    "summary",
]


@dataclasses.dataclass(frozen=True)
class LayerSummary:
    """One layer's row of :func:`summary`.

    Attributes:
        name: Layer name.
        type: Layer class name.
        precision: ``"ternary"`` (ternary weights and inputs),
            ``"ternary-weights"`` (ternary weights, float inputs),
            ``"float"`` or ``"-"`` (no parameters and no MACs).
        params: Number of parameters a deployed model stores: the layer's
            weights, counting each STTN layer's two latent kernels as one
            ternary kernel.
        ternary_params: How many of ``params`` are trits.
        float32_bytes: Memory of ``params`` as float32.
        deployed_bytes: Memory when deployed with the ``float_layers`` and
            ``weight_encoding`` given to :func:`summary`: trits at 2 bits
            (``"trit2"``) or 1.6 bits (``"base3"``), a per-channel float32
            scale added for ternary kernels; with ``"int8_weights"``, the
            float conv/dense kernels of at least 1024 weights that come
            after the last ternary activation (the classifier) as int8 plus
            a float32 scale per output channel; everything else float32.
        ternary_macs: Multiply-accumulates with ternary weights and inputs.
        ternary_weight_macs: MACs with ternary weights and float inputs.
        float_macs: MACs in float.
        deployed_bytes_by_choice: ``deployed_bytes`` for every
            ``(float_layers, weight_encoding)`` pair.

    Example:

    >>> row = summary(model, print_fn=None).layers[1]
    >>> row.name, row.precision, row.params
    ('conv1', 'float', 288)
    """

    name: str
    type: str
    precision: str
    params: int
    ternary_params: int
    float32_bytes: int
    deployed_bytes: int
    ternary_macs: int
    ternary_weight_macs: int
    float_macs: int
    deployed_bytes_by_choice: dict = dataclasses.field(
        default_factory=dict, compare=False
    )

    @property
    def macs(self):
        return self.ternary_macs + self.ternary_weight_macs + self.float_macs


# Layers that compute with weights (conv / dense families): the ones whose
# precision matters. Those ternarize cannot convert are reported as float.
_COMPUTE_LAYERS = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv1D,
    keras.layers.SeparableConv2D,
    keras.layers.Dense,
    keras.layers.EinsumDense,
)


@dataclasses.dataclass(frozen=True)
class FloatLayer:
    """One conv/dense layer that stays float, and why.

    Attributes:
        name: Layer name.
        type: Layer class name.
        macs: Multiply-accumulates per example (0 where not counted).
        reason: Why it is float.

    Example:

    >>> FloatLayer("head", "Dense", 1280, "last layer (keep_last=True)").macs
    1280
    """

    name: str
    type: str
    macs: int
    reason: str


@dataclasses.dataclass(frozen=True)
class FloatLayersReport:
    """Every conv/dense layer of a model that is not ternary, in one place.

    ``str(report)`` is a short table: how many of the model's conv/dense
    layers are ternary, how many MACs per example stay float, and one line
    per float layer with its reason. ``ternarize`` logs it at the end and
    :func:`summary` prints it under its table.

    Attributes:
        layers: One :class:`FloatLayer` per float conv/dense layer.
        ternary_layers: Number of ternary conv/dense layers.
        float_macs: MACs per example of the float layers.
        total_macs: MACs per example of all conv/dense layers.

    Example:

    >>> import sttn_keras as sttn
    >>> m = keras.Sequential([keras.Input((4,)), sttn.layers.TernaryDense(3),
    ...                       keras.layers.Dense(2, name="head")])
    >>> print(float_layers_report(m))
    1 of 2 conv/dense layers ternary; 1 float: 6 of 18 MACs per example (33.3%)
      head  Dense  6 MACs  kept float by ternarize (first/last layer or `exclude`)
    """

    layers: tuple
    ternary_layers: int
    float_macs: int
    total_macs: int

    def __str__(self) -> str:
        n = len(self.layers) + self.ternary_layers
        share = 100 * self.float_macs / max(self.total_macs, 1)
        head = (
            f"{self.ternary_layers} of {n} conv/dense layers ternary; "
            f"{len(self.layers)} float: {_count(self.float_macs)} of "
            f"{_count(self.total_macs)} MACs per example ({share:.1f}%)"
        )
        if not self.layers:
            return head
        wn = max(len(f.name) for f in self.layers)
        wt = max(len(f.type) for f in self.layers)
        wm = max(len(_count(f.macs)) for f in self.layers)
        rows = [
            f"  {f.name.ljust(wn)}  {f.type.ljust(wt)}  "
            f"{_count(f.macs).rjust(wm)} MACs  {f.reason}"
            for f in self.layers
        ]
        return "\n".join([head, *rows])


def float_layers_report(
    model: keras.Model, reasons: dict | None = None
) -> FloatLayersReport:
    """The conv/dense layers of ``model`` that are not ternary, with reasons.

    Args:
        model: A built Keras model (nested models are looked into).
        reasons: Layer name -> reason, as ``ternarize`` knows them; layers
            not in it get the reason the export rules give, or a generic
            one.

    Returns:
        A :class:`FloatLayersReport`.

    Example:

    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="d")])
    >>> float_layers_report(m).layers[0].reason
    'kept float by ternarize (first/last layer or `exclude`)'
    """
    reasons = reasons or {}
    floats, ternary, float_macs, total = [], 0, 0, 0
    for layer in _flat_layers(model):
        if not isinstance(layer, _COMPUTE_LAYERS):
            continue
        macs = _layer_macs(layer)
        total += macs
        if isinstance(layer, TernaryLayerMixin) and layer.kernel_quantizer is not None:
            ternary += 1
            continue
        reason = reasons.get(layer.name)
        if reason is None and isinstance(layer, TernaryLayerMixin):
            reason = "ternary layer with a float kernel (kernel_quantizer=None)"
        if reason is None and type(layer).__name__ not in _TERNARIZABLE:
            reason = f"no ternary version of {type(layer).__name__}"
        if reason is None:
            try:
                reason = unsupported_reason(layer)
            except (AttributeError, ValueError):
                reason = None
        if reason is None:
            reason = "kept float by ternarize (first/last layer or `exclude`)"
        floats.append(FloatLayer(layer.name, type(layer).__name__, macs, reason))
        float_macs += macs
    return FloatLayersReport(tuple(floats), ternary, float_macs, total)


# Float layer types that ternarize converts (exact types).
_TERNARIZABLE = ("Conv2D", "Dense", "DepthwiseConv2D", "SeparableConv2D")


@dataclasses.dataclass(frozen=True)
class ModelSummary:
    """What :func:`summary` returns: the rows and their totals.

    Example:

    >>> s = summary(model, print_fn=None)
    >>> round(s.compression_ratio, 1), s.total("ternary_macs")
    (14.1, 7520256)
    """

    name: str
    layers: tuple
    float_layers: FloatLayersReport | None = None

    def total(self, field: str) -> int:
        """Sum of one numeric field over all layers."""
        return sum(getattr(row, field) for row in self.layers)

    @property
    def float32_bytes(self) -> int:
        return self.total("float32_bytes")

    @property
    def deployed_bytes(self) -> int:
        return self.total("deployed_bytes")

    def deployed_bytes_for(
        self, float_layers: str = "int8_weights", weight_encoding: str = "base3"
    ) -> int:
        """Total deployed bytes for one export choice (see :func:`summary`).

        Example:

        >>> s = summary(model, print_fn=None)
        >>> s.deployed_bytes_for("int8_weights", "base3") < s.deployed_bytes_for("float32", "trit2")
        True
        """
        key = (float_layers, weight_encoding)
        if float_layers not in FLOAT_LAYERS or weight_encoding not in WEIGHT_ENCODINGS:
            raise ValueError(
                f"Received an invalid export choice, expected float_layers in {FLOAT_LAYERS} "
                f"and weight_encoding in {WEIGHT_ENCODINGS}. Received: "
                f"float_layers={float_layers!r}, weight_encoding={weight_encoding!r}"
            )
        return sum(row.deployed_bytes_by_choice[key] for row in self.layers)

    @property
    def compression_ratio(self) -> float:
        """float32 memory divided by deployed memory."""
        return self.float32_bytes / max(self.deployed_bytes, 1)

    @property
    def ternary_mac_fraction(self) -> float:
        """Share of all MACs that are ternary x ternary."""
        return self.total("ternary_macs") / max(self.total("macs"), 1)

    def as_table(self) -> str:
        """The printed table as a string."""
        header = (
            "Layer",
            "Type",
            "Precision",
            "Params",
            "float32",
            "Deployed",
            "MACs tern",
            "MACs tern-w",
            "MACs float",
        )
        rows = [header]
        for r in self.layers:
            rows.append(
                (
                    r.name,
                    r.type,
                    r.precision,
                    f"{r.params:,}",
                    _bytes(r.float32_bytes),
                    _bytes(r.deployed_bytes),
                    _count(r.ternary_macs),
                    _count(r.ternary_weight_macs),
                    _count(r.float_macs),
                )
            )
        rows.append(
            (
                "Total",
                "",
                "",
                f"{self.total('params'):,}",
                _bytes(self.float32_bytes),
                _bytes(self.deployed_bytes),
                _count(self.total("ternary_macs")),
                _count(self.total("ternary_weight_macs")),
                _count(self.total("float_macs")),
            )
        )
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]

        def fmt(row):
            cells = [
                str(c).ljust(w) if i < 3 else str(c).rjust(w)
                for i, (c, w) in enumerate(zip(row, widths))
            ]
            return "| " + " | ".join(cells) + " |"

        rule = "+-" + "-+-".join("-" * w for w in widths) + "-+"
        lines = [f"Model: {self.name}", rule, fmt(rows[0]), rule]
        lines += [fmt(r) for r in rows[1:-1]]
        lines += [rule, fmt(rows[-1]), rule]
        lines.append(
            f"Compression: {self.compression_ratio:.2f}x "
            f"({_bytes(self.float32_bytes)} float32 -> "
            f"{_bytes(self.deployed_bytes)} deployed); "
            f"ternary MACs: {100 * self.ternary_mac_fraction:.1f}% of "
            f"{_count(self.total('macs'))}"
        )
        if self.layers:
            lines.append(
                "Deployed by export choice (float_layers + weight_encoding): "
                + ", ".join(
                    f"{fl} + {enc}: {_bytes(self.deployed_bytes_for(fl, enc))}"
                    for fl in FLOAT_LAYERS
                    for enc in WEIGHT_ENCODINGS
                )
            )
        if self.float_layers is not None:
            lines.append(str(self.float_layers))
        return "\n".join(lines)


def _bytes(n):
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return f"{n} B"


def _count(n):
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.2f}{unit}"
    return str(n)


def _shape(tensor_or_shape):
    shape = getattr(tensor_or_shape, "shape", tensor_or_shape)
    return tuple(shape)


def _output_shape(layer):
    try:
        return _shape(layer.output)
    except (AttributeError, ValueError):
        return None


def _spatial_positions(output_shape, data_format):
    if output_shape is None:
        return 0
    spatial = output_shape[1:-1] if data_format == "channels_last" else output_shape[2:]
    return math.prod(int(d) for d in spatial)


def _kernel_shape(layer):
    # A ternary layer's `kernel` is computed (the quantized kernel); its
    # first latent kernel has the same shape and costs nothing to read.
    if isinstance(layer, TernaryLayerMixin):
        return tuple(layer.latent_kernels[0].shape)
    return tuple(layer.kernel.shape)


def _layer_macs(layer):
    """MACs per example for conv, depthwise, separable and dense layers, else 0."""
    out = _output_shape(layer)
    if isinstance(layer, keras.layers.SeparableConv2D):
        kh, kw, cin, mult = tuple(layer.depthwise_kernel.shape)
        cout = int(layer.pointwise_kernel.shape[-1])
        positions = _spatial_positions(out, layer.data_format)
        return positions * (kh * kw * cin * mult + cin * mult * cout)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw, cin, mult = _kernel_shape(layer)
        return _spatial_positions(out, layer.data_format) * kh * kw * cin * mult
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw, cin_per_group, cout = _kernel_shape(layer)
        return (
            _spatial_positions(out, layer.data_format) * kh * kw * cin_per_group * cout
        )
    if isinstance(layer, keras.layers.Dense):
        cin, cout = _kernel_shape(layer)
        rows = math.prod(int(d) for d in out[1:-1]) if out else 1
        return rows * cin * cout
    return 0


def _float_layer_bytes(layer, n_weights, float_layers, after_ternary_inputs):
    """Deployed bytes of a layer kept float."""
    kernel = getattr(layer, "kernel", None)
    if (
        float_layers == "int8_weights"
        and after_ternary_inputs
        and kernel is not None
        and isinstance(
            layer,
            (keras.layers.Conv2D, keras.layers.Dense, keras.layers.DepthwiseConv2D),
        )
        and math.prod(kernel.shape) >= INT8_MIN_ELEMENTS
    ):
        k = math.prod(kernel.shape)
        channels = int(kernel.shape[-1]) * (
            int(kernel.shape[-2])
            if isinstance(layer, keras.layers.DepthwiseConv2D)
            else 1
        )
        return k + 4 * channels + 4 * (n_weights - k)
    return 4 * n_weights


def _layer_row(
    layer, float_layers="float32", weight_encoding="base3", after_ternary_inputs=False
):
    macs = _layer_macs(layer)
    n_weights = sum(math.prod(w.shape) for w in layer.weights)
    by_choice = {}
    if isinstance(layer, TernaryLayerMixin):
        kernel_size = math.prod(layer.latent_kernels[0].shape)
        latent = sum(math.prod(k.shape) for k in layer.latent_kernels)
        other = n_weights - latent
        if layer.kernel_quantizer is not None:
            channels = int(layer.latent_kernels[0].shape[-1]) * (
                int(layer.latent_kernels[0].shape[-2])
                if isinstance(layer, keras.layers.DepthwiseConv2D)
                else 1
            )
            params = kernel_size + other
            for fl in FLOAT_LAYERS:
                for enc in WEIGHT_ENCODINGS:
                    by_choice[(fl, enc)] = _trit_bytes(kernel_size, enc) + 4 * (
                        other + channels
                    )
            ternary_params = kernel_size
        else:
            params = n_weights
            ternary_params = 0
        if layer.kernel_quantizer is not None and layer.input_quantizer is not None:
            precision, split = "ternary", (macs, 0, 0)
        elif layer.kernel_quantizer is not None:
            precision, split = "ternary-weights", (0, macs, 0)
        else:
            precision, split = "float", (0, 0, macs)
    else:
        params = n_weights
        ternary_params = 0
        precision = "float" if (n_weights or macs) else "-"
        split = (0, 0, macs)
    if not by_choice:
        for fl in FLOAT_LAYERS:
            for enc in WEIGHT_ENCODINGS:
                by_choice[(fl, enc)] = _float_layer_bytes(
                    layer, n_weights, fl, after_ternary_inputs
                )
    deployed = by_choice[(float_layers, weight_encoding)]
    return LayerSummary(
        name=layer.name,
        type=type(layer).__name__,
        precision=precision,
        params=int(params),
        ternary_params=int(ternary_params),
        float32_bytes=int(4 * params),
        deployed_bytes=int(deployed),
        ternary_macs=int(split[0]),
        ternary_weight_macs=int(split[1]),
        float_macs=int(split[2]),
        deployed_bytes_by_choice={k: int(v) for k, v in by_choice.items()},
    )


def _flat_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flat_layers(layer)
        else:
            yield layer


def summary(
    model: keras.Model,
    print_fn: Callable[[str], Any] | None = print,
    *,
    float_layers: str = "int8_weights",
    weight_encoding: str = "base3",
) -> ModelSummary:
    """Prints and returns per-layer precision, memory and MACs of a model.

    For each layer: its precision, its parameter count (an STTN layer's two
    latent kernels count once: they deploy as one ternary kernel), its
    memory as float32 and as deployed (for the default export: trits at 1.6
    bits, the classifier's weights at 8 bits, scales, biases and other
    weights as float32), and its
    multiply-accumulates per example split into ternary x ternary,
    ternary-weight x float, and float. Then the totals, the compression
    ratio, and the deployed total for every export choice of
    ``sttn_keras.export.to_tflite`` (``float_layers`` x ``weight_encoding``).

    Deployed bytes count the weights, not the file: a ``.tflite`` adds the
    graph and a few hundred bytes of metadata per tensor.

    Args:
        model: A built Keras model.
        print_fn: Function that prints the table (``None`` prints nothing).
        float_layers: The export choice the ``Deployed`` column shows:
            ``"int8_weights"`` (default: the float conv/dense kernels of at
            least 1024 weights after the last ternary activation as int8
            plus a float32 scale per output channel) or ``"float32"``.
        weight_encoding: ``"base3"`` (default, 1.6 bits per trit) or
            ``"trit2"`` (2 bits per trit).

    Returns:
        A :class:`ModelSummary`.

    Example:

    >>> import sttn_keras as sttn
    >>> model = keras.Sequential([keras.Input((4,)), sttn.layers.TernaryDense(2)])
    >>> s = sttn.summary(model, print_fn=None)
    >>> s.layers[0].ternary_macs, s.layers[0].deployed_bytes
    (8, 18)
    >>> s.deployed_bytes_for("float32", "trit2")
    18
    """
    if not isinstance(model, keras.Model):
        raise ValueError(
            "Received an invalid value for `model`, expected a keras.Model. "
            f"Received: model={model!r}"
        )
    if float_layers not in FLOAT_LAYERS:
        raise ValueError(
            f"Received an invalid value for `float_layers`, expected one of {FLOAT_LAYERS}. "
            f"Received: float_layers={float_layers!r}"
        )
    if weight_encoding not in WEIGHT_ENCODINGS:
        raise ValueError(
            f"Received an invalid value for `weight_encoding`, expected one of "
            f"{WEIGHT_ENCODINGS}. Received: weight_encoding={weight_encoding!r}"
        )
    if not model.built:
        raise ValueError(
            f"Model '{model.name}' is not built: give it an Input or call it "
            "once before summary()."
        )
    layers = list(_flat_layers(model))
    # Layers are in topological order: the export's int8_weights quantizes
    # float layers after the last ternary activation only.
    last_ternary_input = max(
        (
            i
            for i, ly in enumerate(layers)
            if isinstance(ly, TernaryLayerMixin) and ly.input_quantizer is not None
        ),
        default=-1,
    )
    result = ModelSummary(
        name=model.name,
        layers=tuple(
            _layer_row(ly, float_layers, weight_encoding, i > last_ternary_input)
            for i, ly in enumerate(layers)
        ),
        float_layers=float_layers_report(model),
    )
    if print_fn is not None:
        print_fn(result.as_table())
    return result
