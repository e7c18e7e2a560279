"""``to_tflite``: a trained STTN Keras model -> a ``.tflite`` file with sttn ops.

The pipeline:

1. :func:`~sttn_keras.export.folding.fold_model` merges each ternary layer's
   latent kernels into one ternary kernel and folds adjacent BatchNorms.
2. The model is cloned with each ternary layer replaced by an export layer
   that holds the folded constants (weights packed 2 bits per trit, uint8)
   and calls the tagged ``tf.function``s of :mod:`.tf_ops`; folded BatchNorms
   become identities; every other layer is reused as it is.
3. The stock ``tf.lite.TFLiteConverter`` converts it with builtins only
   (no Flex ops) and ``allow_custom_ops``; each tagged call becomes one
   CUSTOM op.
4. The result is checked: every ternary layer became its custom op(s), no
   Flex op is present.

Needs TensorFlow (the Keras TensorFlow backend).
"""

from __future__ import annotations

import contextlib
import io
import os

import keras
import numpy as np

from . import folding
from . import inspect_model
from . import packing
from .folding import ExportError

__all__ = ["to_tflite", "build_export_model", "ExportError"]


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

    def __init__(self, folded, **kwargs):
        super().__init__(**kwargs)
        self.folded = folded
        packed = packing.pack_weights(folded.trits)
        self.packed_weights = self.add_weight(
            name="packed_weights", shape=packed.shape, dtype="uint8", trainable=False,
            initializer=keras.initializers.Constant(0),
        )
        self.packed_weights.assign(packed)
        self.scale = self.add_weight(name="scale", shape=folded.scale.shape, trainable=False,
                                     initializer="zeros")
        self.scale.assign(folded.scale)
        self.bias = self.add_weight(name="bias", shape=folded.bias.shape, trainable=False,
                                    initializer="zeros")
        self.bias.assign(folded.bias)
        self.output_thresholds = None
        if folded.output_thresholds is not None:
            self.output_thresholds = self.add_weight(
                name="output_thresholds", shape=folded.output_thresholds.shape,
                trainable=False, initializer="zeros")
            self.output_thresholds.assign(folded.output_thresholds)
        self.thresholds = None
        if folded.thresholds is not None and not folded.input_packed:
            self.thresholds = self.add_weight(
                name="thresholds", shape=folded.thresholds.shape, trainable=False,
                initializer="zeros")
            self.thresholds.assign(folded.thresholds)
        self.built = True

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
        if f.kind == "conv2d":
            op = tf_ops.conv2d_fn(float_input, o["in_channels"], o["out_channels"], o["kernel_h"],
                                  o["kernel_w"], o["stride_h"], o["stride_w"], o["padding"],
                                  f.activation, packed_output)
        elif f.kind == "depthwise_conv2d":
            op = tf_ops.depthwise_conv2d_fn(float_input, o["in_channels"], o["depth_multiplier"],
                                            o["kernel_h"], o["kernel_w"], o["stride_h"],
                                            o["stride_w"], o["padding"], f.activation,
                                            packed_output)
        else:
            op = tf_ops.fully_connected_fn(float_input, o["in_channels"], o["out_channels"],
                                           f.activation, packed_output)
        if packed_output:
            return op(x, self.packed_weights, self.scale, self.bias, self.output_thresholds)
        return op(x, self.packed_weights, self.scale, self.bias)


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


def build_export_model(model, plan=None):
    """Clones ``model`` with its ternary layers replaced by export layers.

    The returned model runs in TensorFlow (the ops' reference bodies), which
    is how folds are checked against the original model before conversion.

    Example:

    >>> export_model = build_export_model(model)                # doctest: +SKIP
    >>> np.abs(export_model(x) - model(x)).max() < 1e-4         # doctest: +SKIP
    """
    if keras.backend.backend() != "tensorflow":
        raise ExportError(
            "Export runs on Keras's TensorFlow backend (the TFLite converter "
            f"traces TensorFlow graphs). Current backend: {keras.backend.backend()!r}. "
            "Save the model (.keras) and export it with KERAS_BACKEND=tensorflow."
        )
    plan = plan or folding.fold_model(model)

    def replace(layer):
        if layer.name in plan.layers:
            return SttnExportLayer(plan.layers[layer.name], name=layer.name)
        if layer.name in plan.folded_bns or layer.name in plan.fused_activations:
            return FoldedAway(name=layer.name)
        if layer.name in plan.packed_pads:
            return PackedZeroPadding2D(layer.padding, name=layer.name)
        units = _static_flatten_units(layer)
        if units is not None:
            return StaticFlatten(units, name=layer.name)
        return layer

    return keras.models.clone_model(model, clone_function=replace)


def to_tflite(model, path=None, *, check=True):
    """Exports a trained STTN model to a ``.tflite`` file with sttn custom ops.

    Args:
        model: A built Sequential or Functional Keras model (TensorFlow
            backend) containing sttn ternary layers. Other layers are
            converted by the stock TFLite converter as builtins.
        path: Where to write the file (``None``: only return the bytes).
        check: Verify the result: every ternary layer became sttn custom
            ops, no Flex op, no float conv/FC left for a ternary layer.

    Returns:
        The ``.tflite`` file as ``bytes``.

    Raises:
        ExportError: If a layer cannot be expressed with the sttn ops (for
            example dilation, groups, an unsupported activation or a float
            kernel on a ternary input), or the converter fails.

    Example:

    >>> import sttn_keras as sttn
    >>> data = sttn.export.to_tflite(model, "model.tflite")    # doctest: +SKIP
    >>> sttn.export.op_histogram(data)                           # doctest: +SKIP
    {'CONV_2D': 1, 'SttnTernarize': 2, 'SttnConv2D': 1, ...}
    """
    tf = _tf()
    if not isinstance(model, keras.Model):
        raise ExportError(f"Received an invalid value for `model`, expected a keras.Model. Received: model={model!r}")
    plan = folding.fold_model(model)
    if not plan.layers:
        raise ExportError(
            f"Model '{model.name}' has no sttn ternary layer: there is nothing to "
            "export with sttn ops (use the stock TFLite converter)."
        )
    export_model = build_export_model(model, plan)
    converter = tf.lite.TFLiteConverter.from_keras_model(export_model)
    converter.allow_custom_ops = True
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    try:
        # The converter prints its SavedModel signature to stdout; keep the
        # user's output readable (errors still raise below).
        with contextlib.redirect_stdout(io.StringIO()):
            data = converter.convert()
    except Exception as e:  # the converter raises several private types
        raise ExportError(f"The TFLite converter failed on model '{model.name}': {e}") from e
    if check:
        _check_export(data, plan, model.name)
    if path is not None:
        path = os.fspath(path)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return bytes(data)


def _check_export(data, plan, model_name):
    hist = inspect_model.op_histogram(data)
    flex = [op for op in hist if op.startswith("Flex")]
    if flex:
        raise ExportError(f"Export of '{model_name}' produced Flex ops {flex}.")
    expected = {}
    for folded in plan.layers.values():
        name = inspect_model.op_name_for(folded.kind, folded.thresholds is None)
        expected[name] = expected.get(name, 0) + 1
        if folded.thresholds is not None and not folded.input_packed:
            expected["SttnTernarize"] = expected.get("SttnTernarize", 0) + 1
    for name, count in expected.items():
        if hist.get(name, 0) != count:
            raise ExportError(
                f"Export of '{model_name}' expected {count} '{name}' ops, found "
                f"{hist.get(name, 0)} (op histogram: {hist})."
            )


def float_equivalent(model):
    """The same architecture in float: each ternary layer becomes its Keras
    counterpart with kernel ``trits * scale`` and no input quantizer.

    Example:

    >>> float_model = float_equivalent(model)                   # doctest: +SKIP
    """
    from sttn_keras import layers as sl

    counterparts = {
        sl.TernaryConv2D: keras.layers.Conv2D,
        sl.TernaryDense: keras.layers.Dense,
        sl.TernaryDepthwiseConv2D: keras.layers.DepthwiseConv2D,
    }
    made = {}

    def replace(layer):
        cls = counterparts.get(type(layer))
        if cls is None:
            return layer
        config = {k: v for k, v in layer.get_config().items()
                  if k not in ("kernel_quantizer", "input_quantizer")}
        made[layer.name] = (layer, cls.from_config(config))
        return made[layer.name][1]

    clone = keras.models.clone_model(model, clone_function=replace)
    for layer, new in made.values():
        if layer.kernel_quantizer is None:
            kernel = keras.ops.convert_to_numpy(layer.latent_kernels[0])
        else:
            kernel = keras.ops.convert_to_numpy(layer.quantized_kernel())
        weights = [kernel] + ([keras.ops.convert_to_numpy(layer.bias)] if layer.use_bias else [])
        new.set_weights(weights)
    return clone


def float_tflite(model):
    """A plain float32 TFLite export of :func:`float_equivalent`, the
    baseline for size and speed comparisons (builtins only)."""
    tf = _tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(float_equivalent(model))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    with contextlib.redirect_stdout(io.StringIO()):
        return bytes(converter.convert())


def random_check_input(model, batch=4, seed=0):
    """A float32 batch shaped like the model's input, for fold checks."""
    shape = [batch if d is None else int(d) for d in model.inputs[0].shape]
    return np.random.default_rng(seed).normal(size=shape).astype("float32")
