"""``to_tflite``: a trained STTN Keras model -> a ``.tflite`` file with sttn ops.

The pipeline:

1. :func:`~sttn_keras.export.folding.fold_model` merges each ternary layer's
   latent kernels into one ternary kernel and folds adjacent BatchNorms.
2. The model is cloned with each ternary layer replaced by an export layer
   that holds the folded constants (weights packed at 2 bits per trit, or
   1.6 with ``weight_encoding="base3"``, uint8) and calls the tagged
   ``tf.function``s of :mod:`.tf_ops`; folded BatchNorms become identities;
   every other layer is reused as it is.
3. The stock ``tf.lite.TFLiteConverter`` converts it with builtins only
   (no Flex ops) and ``allow_custom_ops``; each tagged call becomes one
   CUSTOM op.
4. With ``float_layers="int8_weights"`` the float conv/dense builtins that
   no ternary activation follows (the classifier) get int8 weights with
   per-channel scales (:func:`~.int8_weights.quantize_float_weights`).
5. The result is checked: every ternary layer became its custom op(s), no
   Flex op is present, and every sttn op's constants are still the uint8
   weights and float32 scale/bias/thresholds the kernels require.

Needs TensorFlow (the Keras TensorFlow backend).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys

import keras
import numpy as np

from . import folding, inspect_tflite, packing
from .errors import ExportError
from .flatten import flatten_nested
from .int8_weights import quantize_float_weights
from .op_format import (
    DEFAULT_FLOAT_LAYERS,
    DEFAULT_WEIGHT_ENCODING,
    FLOAT_LAYERS,
    WEIGHT_ENCODINGS,
    op_name_for,
)

__all__ = [
    "to_tflite",
    "build_export_model",
    "ExportError",
    "FLOAT_LAYERS",
    "DEFAULT_FLOAT_LAYERS",
]


def _tf():
    try:
        import tensorflow as tf
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError(
            "sttn_keras.export.to_tflite needs TensorFlow (pip install "
            "'sttn-keras[train]'); the runtime Interpreter does not."
        ) from e
    return tf


class SttnExportLayer(keras.layers.Layer):
    """Inference-only layer that calls the sttn custom ops (TF backend).

    Holds the folded constants as non-trainable variables; the converter
    freezes them into constant buffers of the ``.tflite`` file.
    """

    def __init__(self, folded, weight_encoding=DEFAULT_WEIGHT_ENCODING, **kwargs):
        super().__init__(**kwargs)
        self.folded = folded
        self.weight_encoding = weight_encoding
        packed = packing.encode_weights(folded.trits, weight_encoding)
        self.packed_weights = self._constant("packed_weights", packed, "uint8")
        self.scale = self._constant("scale", folded.scale)
        self.bias = self._constant("bias", folded.bias)
        self.output_thresholds = None
        if folded.output_thresholds is not None:
            self.output_thresholds = self._constant(
                "output_thresholds", folded.output_thresholds
            )
        self.thresholds = None
        if folded.thresholds is not None and not folded.input_packed:
            self.thresholds = self._constant("thresholds", folded.thresholds)
        self.built = True

    def _constant(self, name, value, dtype="float32"):
        """A non-trainable variable holding ``value`` (frozen by the
        converter into a constant buffer)."""
        variable = self.add_weight(
            name=name,
            shape=value.shape,
            dtype=dtype,
            trainable=False,
            initializer="zeros",
        )
        variable.assign(value)
        return variable

    def compute_output_spec(self, inputs, training=None, mask=None):
        """The op's output shape from its geometry, without tracing the
        reference body (which the converter traces again anyway): cloning a
        model with a hundred sttn ops is seconds faster."""
        del training, mask
        f = self.folded
        o = f.options
        shape = list(inputs.shape)
        if f.kind == "fully_connected":
            channels = o["out_channels"]
        else:
            channels = o["in_channels"] * o.get("depth_multiplier", 1)
            channels = o.get("out_channels", channels)
            geometry = (
                (1, o["kernel_h"], o["stride_h"]),
                (2, o["kernel_w"], o["stride_w"]),
            )
            for axis, k, s in geometry:
                if shape[axis] is not None:
                    size = shape[axis] - (0 if o["padding"] == "SAME" else k - 1)
                    shape[axis] = -(-size // s)
        if f.output_thresholds is not None:
            words = 2 * (-(-channels // 32))
            return keras.KerasTensor((*shape[:-1], words), dtype="int32")
        spec = keras.KerasTensor((*shape[:-1], channels), dtype="float32")
        if f.post_activation is None:
            return spec
        try:  # Keras's activations are keras.ops: symbolic on a KerasTensor.
            return f.post_activation(spec)
        except Exception:  # a custom activation in raw TensorFlow: trace it
            return super().compute_output_spec(inputs)

    def call(self, inputs, training=None, mask=None):
        del training, mask  # inference only; accepted for graph cloning
        from . import tf_ops

        f = self.folded
        o = f.options
        float_input = f.thresholds is None
        packed_output = f.output_thresholds is not None
        x = inputs
        if not float_input and not f.input_packed:
            x = tf_ops.ternarize_fn(o["in_channels"])(x, self.thresholds)
        geometry = {k: o[k] for k in tf_ops.GEOMETRY_OPTIONS if k in o}
        common = dict(
            activation=f.activation,
            packed_output=packed_output,
            weight_encoding=self.weight_encoding,
        )
        if f.kind == "conv2d":
            op = tf_ops.conv2d_fn(
                float_input, o["in_channels"], o["out_channels"], **geometry, **common
            )
        elif f.kind == "depthwise_conv2d":
            op = tf_ops.depthwise_conv2d_fn(
                float_input,
                o["in_channels"],
                o["depth_multiplier"],
                **geometry,
                **common,
            )
        else:
            op = tf_ops.fully_connected_fn(
                float_input,
                o["in_channels"],
                o["out_channels"],
                f.activation,
                packed_output,
                self.weight_encoding,
            )
        if packed_output:
            return op(
                x, self.packed_weights, self.scale, self.bias, self.output_thresholds
            )
        y = op(x, self.packed_weights, self.scale, self.bias)
        if f.post_activation is not None:
            # Outside the tagged function: the converter lowers it to builtins.
            y = f.post_activation(y)
        return y


class PackedZeroPadding2D(keras.layers.Layer):
    """ZeroPadding2D on a bit-packed activation (int32 words): zero words are
    zero trits. Keeps the int32 dtype, which Keras's own layer would report
    as its float compute dtype."""

    def __init__(self, padding, **kwargs):
        super().__init__(**kwargs)
        self.padding = tuple(tuple(int(v) for v in p) for p in padding)

    def call(self, inputs):
        (top, bottom), (left, right) = self.padding
        return keras.ops.pad(inputs, [[0, 0], [top, bottom], [left, right], [0, 0]])

    def compute_output_spec(self, inputs):
        (top, bottom), (left, right) = self.padding
        n, h, w, c = inputs.shape
        h = None if h is None else h + top + bottom
        w = None if w is None else w + left + right
        return keras.KerasTensor((n, h, w, c), dtype=inputs.dtype)


class StaticFlatten(keras.layers.Layer):
    """Flatten with a constant target shape ``[-1, n]``: one RESHAPE op in
    the ``.tflite`` instead of the SHAPE / STRIDED_SLICE / PACK / RESHAPE
    chain that Keras's Flatten (dynamic batch) converts to."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)

    def call(self, inputs):
        return _tf().reshape(inputs, [-1, self.units])

    def compute_output_spec(self, inputs):
        return keras.KerasTensor((inputs.shape[0], self.units), dtype=inputs.dtype)


def _static_flatten_units(layer):
    """n when ``layer`` is a channels-last Flatten of a fully static shape."""
    if not isinstance(layer, keras.layers.Flatten):
        return None
    if getattr(layer, "data_format", "channels_last") != "channels_last":
        return None
    try:
        dims = layer.input.shape[1:]
    except (AttributeError, ValueError):
        return None
    if any(d is None for d in dims):
        return None
    return int(np.prod(dims))


class FoldedAway(keras.layers.Layer):
    """Identity standing in for a BatchNormalization folded into a ternary
    layer (accepts the ``training``/``mask`` arguments BN was called with)."""

    def call(self, inputs, training=None, mask=None):
        del training, mask
        return inputs


def _check_choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(
            f"Received an invalid value for `{name}`, expected one of "
            f"{allowed}. Received: {name}={value!r}"
        )


def build_export_model(
    model: keras.Model,
    plan: folding.FoldPlan | None = None,
    weight_encoding: str = DEFAULT_WEIGHT_ENCODING,
) -> keras.Model:
    """Clones ``model`` with its ternary layers replaced by export layers.

    The returned model runs in TensorFlow (the ops' reference bodies), which
    is how folds are checked against the original model before conversion.

    Example:

    >>> export_model = build_export_model(model)
    >>> bool(np.abs(export_model(x) - model(x)).max() < 1e-4)
    True
    """
    if keras.backend.backend() != "tensorflow":
        raise ExportError(
            "Export runs on Keras's TensorFlow backend (the TFLite converter "
            f"traces TensorFlow graphs). Current backend: {keras.backend.backend()!r}. "
            "Save the model (.keras) and export it with KERAS_BACKEND=tensorflow."
        )
    _check_choice("weight_encoding", weight_encoding, WEIGHT_ENCODINGS)
    model = flatten_nested(model)
    plan = plan or folding.fold_model(model)

    def replace(layer):
        if layer.name in plan.layers:
            return SttnExportLayer(
                plan.layers[layer.name], weight_encoding, name=layer.name
            )
        if layer.name in plan.folded_bns or layer.name in plan.fused_activations:
            return FoldedAway(name=layer.name)
        if layer.name in plan.packed_pads:
            return PackedZeroPadding2D(layer.padding, name=layer.name)
        units = _static_flatten_units(layer)
        if units is not None:
            return StaticFlatten(units, name=layer.name)
        return layer

    return keras.models.clone_model(model, clone_function=replace)


def to_tflite(
    model: keras.Model,
    path: str | os.PathLike | None = None,
    *,
    check: bool = True,
    float_layers: str = DEFAULT_FLOAT_LAYERS,
    weight_encoding: str = DEFAULT_WEIGHT_ENCODING,
    verbose: int | str = "auto",
) -> bytes:
    """Exports a trained STTN model to a ``.tflite`` file with sttn custom ops.

    Args:
        model: A built Sequential or Functional Keras model (TensorFlow
            backend) containing sttn ternary layers. Other layers are
            converted by the stock TFLite converter as builtins.
        path: Where to write the file (``None``: only return the bytes).
        check: Verify the result: every ternary layer became sttn custom
            ops, no Flex op, no float conv/FC left for a ternary layer, and
            the sttn ops' constants have the types the kernels require.
        float_layers: How the layers that are not ternary (stem conv,
            classifier, ...) store their weights. ``"int8_weights"``
            (default): every float CONV_2D / FULLY_CONNECTED with at least
            1024 weights whose output reaches no sttn op (in practice the
            classifier) gets int8 weights with per-channel scales and runs
            as a TFLite hybrid op (float32 activations); layers that feed a
            ternary activation stay float32, because their int8 rounding
            flips trits downstream (see
            :func:`~.int8_weights.quantize_float_weights`).
            ``"float32"``: every float layer as trained (the file then
            matches Keras up to float rounding).
        weight_encoding: How ternary weights are packed: ``"base3"``
            (default, 5 trits per byte, 1.6 bits per trit) or ``"trit2"``
            (2 bits per trit, 4 per byte). Both are decoded once when the
            interpreter is prepared; base3 files are 20% smaller in their
            ternary weights and load faster (benchmarks/results/size.md).
        verbose: ``1`` shows a progress bar over the export's stages
            (fold, export graph, TFLite conversion, checks), ``0`` nothing,
            ``"auto"`` a bar only when standard output is a terminal. On a
            large model the TFLite conversion is most of the time.

    Returns:
        The ``.tflite`` file as ``bytes``.

    Raises:
        ExportError: If a layer cannot be expressed with the sttn ops (for
            example dilation, groups, ``channels_first`` or a float kernel),
            or the converter fails. Activations other than linear and ReLU
            are not a reason: they run as builtin ops after the sttn op.

    Example:

    >>> import sttn_keras as sttn
    >>> data = sttn.export.to_tflite(model, "model.tflite")
    >>> sttn.export.op_histogram(data)
    {'CONV_2D': 1, 'PRELU': 4, 'MAX_POOL_2D': 3, 'SttnTernarize': 3, 'SttnConv2D': 2, ...}
    >>> plain = sttn.export.to_tflite(model, float_layers="float32",
    ...                               weight_encoding="trit2")
    >>> len(data) < len(plain)
    True
    """
    tf = _tf()
    if not isinstance(model, keras.Model):
        raise ExportError(
            f"Received an invalid value for `model`, expected a keras.Model. Received: model={model!r}"
        )
    _check_choice("float_layers", float_layers, FLOAT_LAYERS)
    _check_choice("weight_encoding", weight_encoding, WEIGHT_ENCODINGS)
    stages = _Stages(verbose, ("fold", "export graph", "convert", "check"))
    model = flatten_nested(model)  # a model inside a model: one flat graph
    plan = folding.fold_model(model)
    stages.done()
    if not plan.layers:
        raise ExportError(
            f"Model '{model.name}' has no sttn ternary layer: there is nothing to "
            "export with sttn ops (use the stock TFLite converter)."
        )
    export_model = build_export_model(model, plan, weight_encoding)
    stages.done()
    converter = tf.lite.TFLiteConverter.from_keras_model(export_model)
    converter.allow_custom_ops = True
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        # The converter prints its SavedModel signature to stdout; keep the
        # user's output readable (errors still raise below).
        with contextlib.redirect_stdout(io.StringIO()):
            data = converter.convert()
    except Exception as e:  # the converter raises several private types
        raise ExportError(
            f"The TFLite converter failed on model '{model.name}': {e}"
        ) from e
    if float_layers == "int8_weights":
        data = quantize_float_weights(data)
    stages.done()
    if check:
        _check_export(data, plan, model.name)
        _check_sttn_constants(data, model.name)
    stages.done()
    if path is not None:
        path = os.fspath(path)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return bytes(data)


class _Stages:
    """A Keras progress bar over named stages (``verbose`` as in to_tflite)."""

    def __init__(self, verbose, names):
        if verbose == "auto":
            verbose = bool(getattr(sys.stdout, "isatty", lambda: False)())
        if verbose not in (0, 1, False, True):
            raise ExportError(
                'Received an invalid value for `verbose`, expected "auto", 0 or 1. '
                f"Received: verbose={verbose!r}"
            )
        self.names = names
        self.bar = (
            keras.utils.Progbar(len(names), unit_name="stage") if verbose else None
        )

    def done(self):
        if self.bar is not None:
            self.bar.add(1)


def _check_export(data, plan, model_name):
    hist = inspect_tflite.op_histogram(data)
    flex = [op for op in hist if op.startswith("Flex")]
    if flex:
        raise ExportError(f"Export of '{model_name}' produced Flex ops {flex}.")
    expected = {}
    for folded in plan.layers.values():
        name = op_name_for(folded.kind, folded.thresholds is None)
        expected[name] = expected.get(name, 0) + 1
        if folded.thresholds is not None and not folded.input_packed:
            expected["SttnTernarize"] = expected.get("SttnTernarize", 0) + 1
    for name, count in expected.items():
        if hist.get(name, 0) != count:
            raise ExportError(
                f"Export of '{model_name}' expected {count} '{name}' ops, found "
                f"{hist.get(name, 0)} (op histogram: {hist})."
            )


# Required type of each constant input of the sttn ops (input index -> type
# name); index 0 is the activation.
_CONSTANT_INPUT_TYPES = {"SttnTernarize": {1: "FLOAT32"}}
_AFFINE_INPUT_TYPES = {1: "UINT8", 2: "FLOAT32", 3: "FLOAT32"}


def _check_sttn_constants(data, model_name):
    """Every sttn op's weights/scale/bias/thresholds are constant tensors of
    the type the kernels require (a quantization pass must not touch them)."""
    from ai_edge_litert import schema_py_generated as schema

    type_names = {
        v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")
    }
    m = inspect_tflite.read_model(data)
    for subgraph in m.subgraphs or []:
        for op in subgraph.operators or []:
            code = m.operatorCodes[op.opcodeIndex]
            if code.customCode is None:
                continue
            name = code.customCode.decode()
            if not name.startswith("Sttn"):
                continue
            required = dict(_CONSTANT_INPUT_TYPES.get(name, _AFFINE_INPUT_TYPES))
            if name != "SttnTernarize" and len(op.inputs) > 4:
                required[4] = "FLOAT32"  # output thresholds of a packed output
            for index, type_name in required.items():
                tensor = subgraph.tensors[op.inputs[index]]
                got = type_names.get(tensor.type, str(tensor.type))
                buf = m.buffers[tensor.buffer]
                constant = buf.data is not None or bool(getattr(buf, "size", 0))
                quantized = (
                    tensor.quantization is not None
                    and tensor.quantization.scale is not None
                )
                if got != type_name or not constant or quantized:
                    raise ExportError(
                        f"Export of '{model_name}': input {index} of a '{name}' op must be a "
                        f"constant {type_name} tensor without quantization parameters; "
                        f"received type {got}, constant={constant}, tensor "
                        f"'{tensor.name.decode() if tensor.name else ''}'."
                    )
