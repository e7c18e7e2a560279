"""A quantized ``tf_keras`` model to the equivalent Keras 3 STTN model.

:func:`to_keras3` rebuilds a model trained with :mod:`sttn_keras.tfmot`'s
configs with :mod:`sttn_keras.layers` layers and the same weights, so that
:func:`sttn_keras.export.to_tflite` exports it.
"""

from __future__ import annotations

from typing import Any

from ._tf_keras import _qk, tf_keras
from .configs import TernaryOutputConfig, _TernaryKernelConfig
from .quantizers import _LATENT_2

# ---------------------------------------------------------------------------
# tf_keras (quantized) -> Keras 3 STTN model
# ---------------------------------------------------------------------------

# Layers copied as they are (same class name and config keys in Keras 3).
_PLAIN_LAYERS = (
    "InputLayer",
    "Conv2D",
    "Dense",
    "DepthwiseConv2D",
    "BatchNormalization",
    "ReLU",
    "Activation",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "Flatten",
    "Reshape",
    "Dropout",
    "ZeroPadding2D",
    "Add",
    "Concatenate",
    "Softmax",
)
# Layers through which a ternary output may reach a ternary layer: they
# commute with the (monotone, elementwise) ternary activation.
_TRANSPARENT = ("Flatten", "Reshape", "MaxPooling2D")
_TERNARY_ARGS = {
    "Conv2D": (
        "filters",
        "kernel_size",
        "strides",
        "padding",
        "data_format",
        "dilation_rate",
        "groups",
        "activation",
        "use_bias",
    ),
    "Dense": ("units", "activation", "use_bias"),
    "DepthwiseConv2D": (
        "kernel_size",
        "strides",
        "padding",
        "depth_multiplier",
        "data_format",
        "dilation_rate",
        "activation",
        "use_bias",
    ),
}


def _is_wrapper(layer):
    return isinstance(layer, _qk.QuantizeWrapper)


def _sttn_config(layer):
    if not _is_wrapper(layer):
        return None
    config = layer.quantize_config
    if isinstance(config, (_TernaryKernelConfig, TernaryOutputConfig)):
        return config
    raise ValueError(
        f"Cannot convert layer '{layer.name}': it is quantized with "
        f"{type(config).__name__}, not with an sttn_keras.tfmot config; only "
        "STTN/TWN kernels and ternary outputs have an sttn equivalent."
    )


def _keras3_plain(layer):
    import keras

    class_name = type(layer).__name__
    if class_name not in _PLAIN_LAYERS or not hasattr(keras.layers, class_name):
        raise ValueError(
            f"Cannot convert layer '{layer.name}' of type {class_name} to "
            f"Keras 3: to_keras3 supports {sorted(_PLAIN_LAYERS)} and layers "
            "quantized with the sttn_keras.tfmot configs."
        )
    config = dict(layer.get_config())
    config.pop("batch_input_shape", None)
    if class_name == "BatchNormalization":
        axis = config["axis"]
        axis = list(axis) if not isinstance(axis, int) else [axis]
        if len(axis) != 1:
            raise ValueError(
                f"Cannot convert layer '{layer.name}': BatchNormalization over "
                f"several axes has no Keras 3 equivalent. Received: axis={axis}"
            )
        config["axis"] = int(axis[0])
    if class_name == "Activation" or "activation" in config:
        _check_activation(layer, config.get("activation"))
    return getattr(keras.layers, class_name).from_config(config)


def _check_activation(layer, activation):
    if activation is not None and not isinstance(activation, str):
        raise ValueError(
            f"Cannot convert layer '{layer.name}': its activation {activation!r} "
            "is not a built-in one named by a string."
        )


def _keras3_ternary(wrapper, ternary_input):
    from .. import layers as sttn_layers

    inner = wrapper.layer
    config = wrapper.quantize_config
    class_name = config._layer_class_name
    inner_config = inner.get_config()
    args = {k: inner_config[k] for k in _TERNARY_ARGS[class_name]}
    _check_activation(inner, args.get("activation"))
    cls = {
        "Conv2D": sttn_layers.TernaryConv2D,
        "Dense": sttn_layers.TernaryDense,
        "DepthwiseConv2D": sttn_layers.TernaryDepthwiseConv2D,
    }[class_name]
    return cls(
        **args,
        name=inner.name,
        kernel_quantizer=config.kernel_quantizer,
        input_quantizer="ternary" if ternary_input else None,
    )


def _latent_weights(wrapper):
    """``[W1, (W2)]`` and the bias of an STTN/TWN wrapper, as numpy arrays."""
    inner = wrapper.layer
    config = wrapper.quantize_config

    def find(basename):
        # The wrapper tracks the variables; the wrapped layer's `kernel`
        # attribute holds the quantized tensor once the wrapper has run.
        found = [w for w in wrapper.weights if w.name.split("/")[-1] == basename]
        if len(found) != 1:
            raise ValueError(
                f"Cannot convert layer '{wrapper.name}': expected one variable "
                f"named '{basename}', found {[w.name for w in wrapper.weights]}."
            )
        return found[0].numpy()

    latents = [find(config._kernel_attr + ":0")]
    if config.kernel_quantizer == "sttn":
        latents.append(find(config._kernel_attr + _LATENT_2 + ":0"))
    bias = inner.bias.numpy() if inner.use_bias else None
    return latents, bias


def _tf_keras_graph(model):
    """``(layers in order, {name: [input names]}, input names, output names)``."""
    if isinstance(model, tf_keras.Sequential):
        layers = list(model.layers)
        inbound = {}
        previous = None
        for layer in layers:
            inbound[layer.name] = [previous] if previous is not None else []
            previous = layer.name
        return layers, inbound, None, [layers[-1].name]
    config = model.get_config()
    by_name = {layer.name: layer for layer in model.layers}
    layers, inbound = [], {}
    for layer_config in config["layers"]:
        name = layer_config["name"]
        nodes = layer_config.get("inbound_nodes", [])
        if len(nodes) > 1:
            raise ValueError(
                f"Cannot convert model '{model.name}': layer '{name}' is "
                f"called {len(nodes)} times (shared layer)."
            )
        sources = []
        for node in nodes:
            for inbound_tensor in node:
                if inbound_tensor[1] != 0 or inbound_tensor[2] != 0:
                    raise ValueError(
                        f"Cannot convert model '{model.name}': layer '{name}' "
                        "reads a shared layer's second call or output."
                    )
                sources.append(inbound_tensor[0])
        layers.append(by_name[name])
        inbound[name] = sources
    inputs = [entry[0] for entry in config["input_layers"]]
    outputs = [entry[0] for entry in config["output_layers"]]
    return layers, inbound, inputs, outputs


def _ternary_inputs(model, layers, inbound, outputs):
    """Names of ternary layers whose input comes from a ternary output."""
    consumers = {layer.name: [] for layer in layers}
    for name, sources in inbound.items():
        for source in sources:
            consumers[source].append(name)
    by_name = {layer.name: layer for layer in layers}

    def is_kernel_layer(name):
        return isinstance(_sttn_config(by_name[name]), _TernaryKernelConfig)

    ternary_input = set()
    for layer in layers:
        if not isinstance(_sttn_config(layer), TernaryOutputConfig):
            continue
        frontier = list(consumers[layer.name])
        if layer.name in outputs or not frontier:
            raise ValueError(
                f"Cannot convert layer '{layer.name}': its ternary output is a "
                "model output; a ternary output must feed STTN layers."
            )
        while frontier:
            name = frontier.pop()
            target = by_name[name]
            if is_kernel_layer(name):
                ternary_input.add(name)
            elif (
                not _is_wrapper(target)
                and type(target).__name__ in _TRANSPARENT
                and name not in outputs
                and consumers[name]
            ):
                frontier.extend(consumers[name])
            else:
                raise ValueError(
                    f"Cannot convert layer '{layer.name}': its ternary output "
                    f"reaches layer '{name}' ({type(target).__name__}), which "
                    "is not an STTN-quantized Conv2D, Dense or "
                    "DepthwiseConv2D. In Keras 3 the ternary activation is "
                    "the input quantizer of the ternary layers, so every "
                    f"consumer must be one (through {list(_TRANSPARENT)} at "
                    "most)."
                )
    # A ternary layer fed partly by float data would be ternarized wholly.
    for name in ternary_input:
        for source in inbound[name]:
            if not _reaches_through_transparent(source, by_name, inbound):
                raise ValueError(
                    f"Cannot convert layer '{name}': its input is not a ternary output."
                )
    return ternary_input


def _reaches_through_transparent(name, by_name, inbound):
    layer = by_name[name]
    if isinstance(_sttn_config(layer), TernaryOutputConfig):
        return True
    if not _is_wrapper(layer) and type(layer).__name__ in _TRANSPARENT:
        return all(
            _reaches_through_transparent(s, by_name, inbound) for s in inbound[name]
        )
    return False


def to_keras3(model: Any) -> Any:
    """Builds the Keras 3 STTN model equivalent to a quantized ``tf_keras`` one.

    Every layer quantized with an STTN/TWN config becomes the matching
    :mod:`sttn_keras.layers` layer (same name and arguments, latent kernels
    ``W1``, ``W2`` and bias copied); a layer with :class:`TernaryOutputConfig`
    becomes its plain Keras 3 counterpart and its consumers get
    ``input_quantizer="ternary"``; every other supported layer is copied
    with its weights (BatchNorm statistics included). The result computes
    what the ``tf_keras`` model computes in inference mode, and
    :func:`sttn_keras.export.to_tflite` exports it.

    Args:
        model: A ``tf_keras`` Sequential or Functional model returned by
            :func:`quantize_apply` (or TF-MOT's ``quantize_apply`` with the
            sttn configs), trained or not.

    Returns:
        An uncompiled ``keras.Model`` (Keras 3).

    Raises:
        ValueError: For a model that is not a ``tf_keras`` graph model, not
            quantized (or only annotated) with the sttn configs, or has a
            layer with no sttn / Keras 3 equivalent (named in the message).

    Example:

    >>> import numpy as np, tf_keras
    >>> from sttn_keras.tfmot import annotate, quantize_apply
    >>> qat = quantize_apply(tf_keras.Sequential(
    ...     [tf_keras.Input((6,)), annotate(tf_keras.layers.Dense(3))]))
    >>> k3 = to_keras3(qat)
    >>> [type(layer).__name__ for layer in k3.layers]
    ['TernaryDense']
    >>> x = np.random.default_rng(0).normal(size=(2, 6)).astype("float32")
    >>> bool(np.allclose(k3(x), qat(x), atol=1e-5))
    True
    """
    import keras

    if not isinstance(model, tf_keras.Model):
        raise ValueError(
            "Received an invalid value for `model`, expected a tf_keras model "
            "returned by sttn_keras.tfmot.quantize_apply. Received: "
            f"model={model!r} of type {type(model).__name__}"
        )
    if not isinstance(model, tf_keras.Sequential) and type(model).__name__ not in (
        "Functional",
        "Model",
    ):
        raise ValueError(
            f"Cannot convert model '{model.name}' of type {type(model).__name__}: "
            "only Sequential and Functional tf_keras models are supported."
        )
    # TF-MOT does not export its QuantizeAnnotate class: known by name.
    annotated = [
        ly.name for ly in model.layers if type(ly).__name__ == "QuantizeAnnotate"
    ]
    if annotated:
        raise ValueError(
            f"Model '{model.name}' is annotated but not quantized (layers "
            f"{annotated}): call sttn_keras.tfmot.quantize_apply(model) first."
        )
    if not any(
        isinstance(_sttn_config(ly), _TernaryKernelConfig) for ly in model.layers
    ):
        raise ValueError(
            f"Model '{model.name}' has no layer quantized with an STTN/TWN "
            "config of sttn_keras.tfmot (annotate Conv2D/Dense/DepthwiseConv2D "
            "layers and call sttn_keras.tfmot.quantize_apply)."
        )
    nested = [ly.name for ly in model.layers if isinstance(ly, tf_keras.Model)]
    if nested:
        raise ValueError(
            f"Cannot convert model '{model.name}': layers {nested} are nested "
            "models; flatten them into the outer model."
        )
    layers, inbound, input_names, output_names = _tf_keras_graph(model)
    ternary_input = _ternary_inputs(model, layers, inbound, output_names)

    converted = {}
    for layer in layers:
        config = _sttn_config(layer)
        if type(layer).__name__ == "InputLayer":
            continue  # becomes keras.Input below
        if isinstance(config, _TernaryKernelConfig):
            converted[layer.name] = _keras3_ternary(layer, layer.name in ternary_input)
        elif isinstance(config, TernaryOutputConfig):
            converted[layer.name] = _keras3_plain(layer.layer)
        elif _is_wrapper(layer):
            converted[layer.name] = _keras3_plain(layer.layer)
        else:
            converted[layer.name] = _keras3_plain(layer)

    if input_names is None:  # Sequential
        shape = tuple(model.input_shape[1:])
        body = [converted[ly.name] for ly in layers if ly.name in converted]
        new_model = keras.Sequential([keras.Input(shape), *body], name=model.name)
    else:
        tensors = {}
        for layer in layers:
            new = converted.get(layer.name)
            if new is None:
                tensors[layer.name] = keras.Input(
                    tuple(layer.get_config()["batch_input_shape"][1:]),
                    name=layer.name,
                )
                continue
            args = [tensors[s] for s in inbound[layer.name]]
            tensors[layer.name] = new(args if len(args) > 1 else args[0])
        outs = [tensors[n] for n in output_names]
        new_model = keras.Model(
            [tensors[n] for n in input_names],
            outs if len(outs) > 1 else outs[0],
            name=model.name,
        )

    for layer in layers:
        new = converted.get(layer.name)
        config = _sttn_config(layer)
        if new is None:
            continue
        if isinstance(config, _TernaryKernelConfig):
            latents, bias = _latent_weights(layer)
            for variable, value in zip(new.latent_kernels, latents):
                variable.assign(value)
            if bias is not None:
                new.bias.assign(bias)
        else:
            source = layer.layer if _is_wrapper(layer) else layer
            new.set_weights(source.get_weights())
    return new_model
