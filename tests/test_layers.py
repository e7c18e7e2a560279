"""Ternary layers: equivalence with Keras layers, signatures, serialisation.

Backend-agnostic: `test_jax_backend.py` reruns this file under JAX.
"""

import inspect

import keras
import numpy as np
import pytest
from backend_utils import value_and_grads
from keras import ops

from sttn_keras import layers as sl
from sttn_keras import quantizers as sq

PAIRS = [
    (sl.TernaryConv2D, keras.layers.Conv2D),
    (sl.TernaryDense, keras.layers.Dense),
    (sl.TernaryDepthwiseConv2D, keras.layers.DepthwiseConv2D),
]

CONV_CASES = [
    dict(filters=5, kernel_size=3, padding="same"),
    dict(filters=4, kernel_size=(3, 1), strides=2, padding="valid", use_bias=False),
    dict(filters=6, kernel_size=1, activation="relu"),
    dict(filters=4, kernel_size=3, groups=2, padding="same"),
]
DENSE_CASES = [dict(units=7), dict(units=3, use_bias=False, activation="relu")]
DEPTHWISE_CASES = [
    dict(kernel_size=3, padding="same"),
    dict(kernel_size=3, strides=2, depth_multiplier=2, padding="valid"),
]


# Checks of Keras's own wiring (its call, dtype policy and masking), which is
# the same Python on every backend: run once, under TensorFlow. Under JAX,
# where each eager op is compiled, they would add about 35 s to the rerun of
# this file; the equality, gradient and fit tests of this file run there and
# go through the same `kernel` property and Keras call.
keras_wiring = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="Keras wiring is checked once, under TensorFlow (about 35 s more under JAX)",
)


def _input(shape, seed=0):
    return np.random.default_rng(seed).normal(0, 1, shape).astype("float32")


def _keras_twin(layer, keras_cls, trits, scale, x_q):
    """The Keras layer with kernel trits * scale, built on x_q."""
    config = layer.get_config()
    for key in ("kernel_quantizer", "input_quantizer"):
        config.pop(key)
    twin = keras_cls.from_config(config)
    twin.build(x_q.shape)
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kernel = trits * scale.reshape(1, 1, *trits.shape[2:])
    else:
        kernel = trits * scale
    weights = [kernel.astype("float32")]
    if layer.use_bias:
        weights.append(ops.convert_to_numpy(layer.bias))
    twin.set_weights(weights)
    return twin


def _cases():
    for kq in ("sttn", "twn"):
        for iq in ("ternary", None):
            for c in CONV_CASES:
                yield sl.TernaryConv2D, keras.layers.Conv2D, c, (2, 9, 9, 4), kq, iq
            for c in DENSE_CASES:
                yield sl.TernaryDense, keras.layers.Dense, c, (3, 2, 11), kq, iq
            for c in DEPTHWISE_CASES:
                yield (
                    sl.TernaryDepthwiseConv2D,
                    keras.layers.DepthwiseConv2D,
                    c,
                    (2, 8, 8, 3),
                    kq,
                    iq,
                )


@pytest.mark.parametrize("cls,keras_cls,kwargs,shape,kq,iq", list(_cases()))
def test_layer_equals_keras_layer_on_ternary_kernel(
    cls, keras_cls, kwargs, shape, kq, iq
):
    layer = cls(
        **kwargs,
        kernel_quantizer=kq,
        input_quantizer=iq,
        bias_initializer="random_normal",
    )
    x = _input(shape) * 1.5
    y = ops.convert_to_numpy(layer(x))
    trits, scale = layer.get_ternary_kernel()
    assert trits.dtype == np.int8 and set(np.unique(trits)) <= {-1, 0, 1}
    assert scale.ndim == 1 and scale.shape[0] == y.shape[-1]
    x_q = ops.convert_to_numpy(layer.quantize_input(x))
    if iq is not None:
        assert set(np.unique(x_q)) <= {-1.0, 0.0, 1.0}
    twin = _keras_twin(layer, keras_cls, trits, scale, x_q)
    np.testing.assert_allclose(y, ops.convert_to_numpy(twin(x_q)), rtol=1e-5, atol=1e-5)


def test_sttn_latent_kernels_are_independent_and_clamped():
    layer = sl.TernaryConv2D(
        8, 3, kernel_initializer=keras.initializers.RandomUniform(-3, 3, seed=1)
    )
    layer.build((None, 6, 6, 4))
    w1, w2 = (ops.convert_to_numpy(k) for k in layer.latent_kernels)
    assert not np.array_equal(w1, w2)
    assert w1.min() >= -1 and w1.max() <= 1 and w2.min() >= -1 and w2.max() <= 1
    trits, _ = layer.get_ternary_kernel()
    assert (trits == 0).any(), "independent latents must produce zeros"


def test_latent_clamp_applies_after_update():
    layer = sl.TernaryDense(3, kernel_constraint=keras.constraints.NonNeg())
    layer.build((None, 4))
    for var in layer.latent_kernels:
        var.assign(np.full(var.shape, 5.0, "float32"))
        var.assign(var.constraint(var))
        np.testing.assert_array_equal(ops.convert_to_numpy(var), 1.0)
        var.assign(var.constraint(np.full(var.shape, -5.0, "float32")))
        np.testing.assert_array_equal(ops.convert_to_numpy(var), 0.0)


def test_twn_layer_has_one_latent_kernel():
    layer = sl.TernaryDense(3, kernel_quantizer="twn")
    layer.build((None, 4))
    assert [w.name for w in layer.weights] == ["kernel", "bias"]


def test_weights_only_layer_gradient_matches_finite_differences():
    # With input_quantizer=None the layer is linear in x and in the bias,
    # so autodiff must agree with central differences.
    layer = sl.TernaryConv2D(
        3, 3, padding="same", input_quantizer=None, bias_initializer="ones"
    )
    x = _input((1, 5, 5, 2), seed=3)
    layer.build(x.shape)
    upstream = _input((1, 5, 5, 3), seed=4)

    def loss(x):
        return ops.sum(layer(x) * upstream)

    _, (gx,) = value_and_grads(loss, x)
    eps = 1e-2
    rng = np.random.default_rng(5)
    for _ in range(6):
        idx = tuple(rng.integers(0, s) for s in x.shape)
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        fd = (float(loss(xp)) - float(loss(xm))) / (2 * eps)
        np.testing.assert_allclose(gx[idx], fd, rtol=2e-2, atol=2e-3)


def test_ternary_input_gradient_is_straight_through():
    layer = sl.TernaryDense(
        2, kernel_quantizer=None, use_bias=False, kernel_initializer="ones"
    )
    x = np.array([[0.3, -2.0, 0.9]], "float32")
    layer.build(x.shape)
    _, (gx,) = value_and_grads(lambda x: ops.sum(layer(x)), x)
    np.testing.assert_array_equal(gx, [[2.0, 0.0, 2.0]])


def test_layers_train_in_fit():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6, 6, 2)),
            sl.TernaryConv2D(4, 3, padding="same", input_quantizer=None),
            keras.layers.BatchNormalization(),
            sl.TernaryDepthwiseConv2D(3, padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.Flatten(),
            sl.TernaryDense(3),
        ]
    )
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    before = [ops.convert_to_numpy(w).copy() for w in model.trainable_weights]
    model.fit(_input((16, 6, 6, 2)), np.arange(16) % 3, epochs=2, verbose=0)
    after = [ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert all(not np.array_equal(a, b) for a, b in zip(before, after))
    for layer in model.layers:
        if isinstance(layer, sl.TernaryLayerMixin):
            for k in layer.latent_kernels:
                assert np.abs(ops.convert_to_numpy(k)).max() <= 1.0


@pytest.mark.parametrize("cls,keras_cls", PAIRS)
def test_signature_parity(cls, keras_cls):
    ours = inspect.signature(cls.__init__).parameters
    theirs = inspect.signature(keras_cls.__init__).parameters
    names = list(ours)
    expected = [n for n in theirs if n != "kwargs"] + [
        "kernel_quantizer",
        "input_quantizer",
        "kwargs",
    ]
    assert names == expected
    for name, param in theirs.items():
        assert ours[name].default == param.default, name
    assert ours["kernel_quantizer"].default == "sttn"
    assert ours["input_quantizer"].default == "ternary"


@pytest.mark.parametrize("cls,keras_cls", PAIRS)
def test_config_round_trip(cls, keras_cls):
    kwargs = {"kernel_size": 3} if cls is not sl.TernaryDense else {"units": 4}
    if cls is sl.TernaryConv2D:
        kwargs["filters"] = 4
    layer = cls(
        **kwargs,
        kernel_quantizer=sq.HardThresholdTernary(0.6),
        input_quantizer=sq.TernaryActivation(0.4),
    )
    config = layer.get_config()
    restored = cls.from_config(config)
    assert restored.get_config() == config
    assert restored.kernel_quantizer == sq.HardThresholdTernary(0.6)
    assert restored.input_quantizer == sq.TernaryActivation(0.4)


@pytest.mark.parametrize("cls,keras_cls", PAIRS)
def test_call_is_keras_call_with_keras_signature(cls, keras_cls):
    # Keras's own call adds bias and activation: the ternary layers override
    # only hooks, and a call they override keeps Keras's signature.
    assert inspect.signature(cls.call) == inspect.signature(keras_cls.call)
    if cls is sl.TernaryConv2D:
        assert cls.call is keras_cls.call
    else:
        source = inspect.getsource(cls.call)
        assert "super().call(" in source and "self.bias" not in source


@keras_wiring
@pytest.mark.parametrize("cls,keras_cls", PAIRS)
def test_kernel_is_the_quantized_kernel(cls, keras_cls):
    layer = _small_layer(cls)
    layer.build((None, 5, 5, 4) if cls is not sl.TernaryDense else (None, 4))
    trits, scale = layer.get_ternary_kernel()
    if cls is sl.TernaryDepthwiseConv2D:
        scale = scale.reshape(1, 1, *trits.shape[2:])
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer.kernel), trits * scale, rtol=1e-6
    )
    assert not isinstance(layer.kernel, keras.Variable)
    assert [w.name for w in layer.trainable_weights] == ["kernel", "bias", "kernel_2"]
    assert layer.latent_kernels == [
        layer.trainable_weights[0],
        layer.trainable_weights[2],
    ]


def _small_layer(cls, **kwargs):
    if cls is sl.TernaryDense:
        return cls(6, **kwargs)
    if cls is sl.TernaryConv2D:
        return cls(3, 3, padding="same", **kwargs)
    return cls(3, padding="same", **kwargs)


def _three_layer_model(dtype=None):
    return keras.Sequential(
        [
            keras.Input((5, 5, 4)),
            sl.TernaryConv2D(
                6, 3, padding="same", bias_initializer="random_normal", dtype=dtype
            ),
            sl.TernaryDepthwiseConv2D(
                3, bias_initializer="random_normal", activation="relu", dtype=dtype
            ),
            keras.layers.Flatten(dtype=dtype),
            sl.TernaryDense(
                5, bias_initializer="random_normal", activation="relu", dtype=dtype
            ),
        ]
    )


@keras_wiring
def test_mixed_precision_policy_computes_in_bfloat16():
    # Keras's dtype policy: float32 variables, compute (and output) in bfloat16.
    keras.utils.set_random_seed(0)
    full, mixed = _three_layer_model(), _three_layer_model("mixed_bfloat16")
    mixed.set_weights(full.get_weights())
    x = _input((2, 5, 5, 4), seed=6) * 1.5
    y = mixed(x)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    assert {keras.backend.standardize_dtype(w.dtype) for w in mixed.weights} == {
        "float32"
    }
    y32 = ops.convert_to_numpy(full(x))
    assert y32.min() >= 0 and (y32 > 0).any()  # Keras's "relu" string applied
    np.testing.assert_allclose(
        ops.convert_to_numpy(ops.cast(y, "float32")), y32, rtol=3e-2, atol=5e-2
    )


@keras_wiring
def test_keras_masking_passes_through_dense():
    # Keras's Dense supports masking; so does TernaryDense: the pooling after
    # it averages over the unmasked steps only.
    tokens = np.array([[3, 5, 0, 0], [7, 0, 0, 0]], "int32")
    inputs = keras.Input((4,), dtype="int32")
    h = keras.layers.Embedding(10, 6, mask_zero=True)(inputs)
    h = sl.TernaryDense(5, bias_initializer="random_normal")(h)
    pooled = keras.layers.GlobalAveragePooling1D()(h)
    per_step, pooled = (
        ops.convert_to_numpy(t) for t in keras.Model(inputs, [h, pooled])(tokens)
    )
    np.testing.assert_allclose(pooled[0], per_step[0, :2].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pooled[1], per_step[1, 0], rtol=1e-5, atol=1e-6)


def _model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = sl.TernaryConv2D(8, 3, padding="same")(x)
    x = sl.TernaryDepthwiseConv2D(3, kernel_quantizer="twn")(x)
    x = keras.layers.Flatten()(x)
    outputs = sl.TernaryDense(5, input_quantizer=None)(x)
    return keras.Model(inputs, outputs)


def test_keras_file_round_trip(tmp_path):
    model = _model()
    x = _input((2, 8, 8, 3))
    path = tmp_path / "m.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(model(x)), ops.convert_to_numpy(restored(x))
    )
    for a, b in zip(model.weights, restored.weights):
        assert a.path == b.path
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))


def test_weights_h5_round_trip(tmp_path):
    model = _model()
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    other = _model()
    other.load_weights(path)
    for a, b in zip(model.weights, other.weights):
        np.testing.assert_array_equal(ops.convert_to_numpy(a), ops.convert_to_numpy(b))


def test_loading_weights_of_another_quantizer_fails_clearly(tmp_path):
    a = keras.Sequential(
        [keras.Input((4,)), sl.TernaryDense(2, kernel_quantizer="sttn")]
    )
    b = keras.Sequential(
        [keras.Input((4,)), sl.TernaryDense(2, kernel_quantizer="twn")]
    )
    path = tmp_path / "a.weights.h5"
    a.save_weights(path)
    with pytest.raises(ValueError, match="expected 2 variables"):
        b.load_weights(path)


class TestBadArguments:
    def test_unknown_quantizer(self):
        with pytest.raises(ValueError, match=r"Received: kernel_quantizer='binary'"):
            sl.TernaryConv2D(4, 3, kernel_quantizer="binary")

    def test_activation_quantizer_as_kernel_quantizer(self):
        with pytest.raises(ValueError, match="expected a kernel quantizer"):
            sl.TernaryDense(4, kernel_quantizer="ternary")

    def test_kernel_quantizer_as_input_quantizer(self):
        with pytest.raises(ValueError, match="expected an activation quantizer"):
            sl.TernaryDepthwiseConv2D(3, input_quantizer="twn")

    def test_nothing_to_quantize(self):
        with pytest.raises(ValueError, match="quantizes nothing"):
            sl.TernaryDense(4, kernel_quantizer=None, input_quantizer=None)

    def test_keras_validation_still_applies(self):
        with pytest.raises(ValueError, match="filters"):
            sl.TernaryConv2D(0, 3)

    def test_lora_is_refused(self):
        with pytest.raises(ValueError, match="lora_rank=4"):
            sl.TernaryDense(4, lora_rank=4)

    def test_ternary_kernel_before_build(self):
        with pytest.raises(ValueError, match="not built"):
            sl.TernaryDense(4).get_ternary_kernel()

    def test_float_kernel_has_no_ternary_kernel(self):
        layer = sl.TernaryDense(4, kernel_quantizer=None)
        layer.build((None, 3))
        with pytest.raises(ValueError, match="float kernel"):
            layer.get_ternary_kernel()
