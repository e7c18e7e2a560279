"""The stock-converter baselines of an STTN model: float32 and int8 TFLite.

An STTN file has to be smaller and faster than what the stock TFLite
converter makes of the same architecture. These functions build that
architecture in float (:func:`float_equivalent`) and convert it the stock
way (:func:`float_tflite`, :func:`int8_tflite`); ``sttn-export``, the demo,
the benchmarks and the size tests compare against them.

Needs TensorFlow (the Keras TensorFlow backend).
"""

from __future__ import annotations

import contextlib
import io

import keras
import numpy as np

__all__ = ["float_equivalent", "float_tflite", "int8_tflite"]


def _tf():
    import tensorflow as tf

    return tf


def float_equivalent(model: keras.Model) -> keras.Model:
    """The same architecture in float.

    Each ternary layer becomes its Keras counterpart (``Conv2D``, ``Dense``,
    ``DepthwiseConv2D``) with kernel ``trits * scale`` and no input
    quantizer; every other layer is shared with ``model``.

    Args:
        model: an STTN Keras model (a float model is returned as a clone).

    Returns:
        A new ``keras.Model``.

    Example:

    >>> float_model = float_equivalent(model)
    >>> sorted({type(layer).__name__ for layer in float_model.layers
    ...         if "Ternary" in type(layer).__name__})
    []
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
        config = {
            k: v
            for k, v in layer.get_config().items()
            if k not in ("kernel_quantizer", "input_quantizer")
        }
        made[layer.name] = (layer, cls.from_config(config))
        return made[layer.name][1]

    clone = keras.models.clone_model(model, clone_function=replace)
    for layer, new in made.values():
        if layer.kernel_quantizer is None:
            kernel = keras.ops.convert_to_numpy(layer.latent_kernels[0])
        else:
            kernel = keras.ops.convert_to_numpy(layer.quantized_kernel())
        weights = [kernel]
        if layer.use_bias:
            weights.append(keras.ops.convert_to_numpy(layer.bias))
        new.set_weights(weights)
    return clone


def float_tflite(model: keras.Model) -> bytes:
    """A plain float32 TFLite export of :func:`float_equivalent`.

    The baseline for size and speed comparisons (builtins only).

    Example:

    >>> data = float_tflite(model)
    >>> data[4:8]
    b'TFL3'
    """
    tf = _tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(float_equivalent(model))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    with contextlib.redirect_stdout(io.StringIO()):
        return bytes(converter.convert())


def int8_tflite(model: keras.Model, representative_data: np.ndarray) -> bytes:
    """A full-integer int8 TFLite export of :func:`float_equivalent`.

    Stock converter, builtins only, int8 inside, float32 input and output:
    the baseline an STTN file must beat in size and speed.

    Args:
        model: An STTN Keras model.
        representative_data: A float32 array of example inputs (up to 32
            batches of 1 are drawn from it) for the activation ranges.

    Example:

    >>> x = np.random.default_rng(0).normal(size=(8, 28, 28, 1))
    >>> len(int8_tflite(model, x)) < len(float_tflite(model))
    True
    """
    tf = _tf()
    data = np.asarray(representative_data, np.float32)
    if data.ndim < 1 or len(data) == 0:
        raise ValueError(
            "Received an empty `representative_data`; the int8 converter needs "
            f"example inputs. Received shape: {data.shape}"
        )

    def examples():
        for i in range(min(len(data), 32)):
            yield [data[i : i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(float_equivalent(model))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = examples
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    with contextlib.redirect_stdout(io.StringIO()):
        return bytes(converter.convert())
