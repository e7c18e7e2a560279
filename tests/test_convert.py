"""sttn_keras.ternarize on Sequential and Functional models."""

import keras
import numpy as np
import pytest
from keras import ops

import sttn_keras as sttn
from sttn_keras import layers as sl


def _residual_model():
    inputs = keras.Input((10, 10, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    x = keras.layers.BatchNormalization()(x)
    y = keras.layers.Conv2D(8, 3, padding="same", name="conv_a")(x)
    y = keras.layers.BatchNormalization()(y)
    y = keras.layers.Conv2D(8, 3, padding="same", name="conv_b")(y)
    x = keras.layers.Add()([x, y])
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(12, name="fc")(x)
    outputs = keras.layers.Dense(4, name="head")(x)
    return keras.Model(inputs, outputs)


def _twn(w, axes):
    d = 0.7 * np.abs(w).mean(axis=axes, keepdims=True)
    return (np.sign(w) * (np.abs(w) > d)).astype("int8")


def test_residual_functional_model():
    model = _residual_model()
    student = sttn.ternarize(model)
    kinds = {ly.name: type(ly).__name__ for ly in student.layers}
    assert kinds["stem"] == "Conv2D" and kinds["head"] == "Dense"
    assert kinds["conv_a"] == "TernaryConv2D" and kinds["conv_b"] == "TernaryConv2D"
    assert kinds["dw"] == "TernaryDepthwiseConv2D" and kinds["fc"] == "TernaryDense"
    # Same graph: the Add still joins the stem branch and conv_b.
    x = np.random.default_rng(0).normal(size=(2, 10, 10, 3)).astype("float32")
    assert student(x).shape == (2, 4)
    # Float layers keep their weights exactly.
    for name in ("stem", "head"):
        for a, b in zip(model.get_layer(name).weights, student.get_layer(name).weights):
            np.testing.assert_array_equal(
                ops.convert_to_numpy(a), ops.convert_to_numpy(b)
            )
    # Warm start = TWN ternarisation of the float kernel, bias copied.
    for name, axes in (
        ("conv_a", (0, 1, 2)),
        ("conv_b", (0, 1, 2)),
        ("dw", (0, 1)),
        ("fc", (0,)),
    ):
        trits, _ = student.get_layer(name).get_ternary_kernel()
        w = ops.convert_to_numpy(model.get_layer(name).kernel)
        np.testing.assert_array_equal(trits, _twn(w, axes))
        np.testing.assert_array_equal(
            ops.convert_to_numpy(model.get_layer(name).bias),
            ops.convert_to_numpy(student.get_layer(name).bias),
        )


def test_options_change_what_is_converted():
    model = _residual_model()
    student = sttn.ternarize(
        model,
        keep_first=False,
        keep_last=False,
        exclude=("dw",),
        kernel_quantizer="twn",
        input_quantizer=None,
    )
    assert isinstance(student.get_layer("stem"), sl.TernaryConv2D)
    assert isinstance(student.get_layer("head"), sl.TernaryDense)
    assert type(student.get_layer("dw")) is keras.layers.DepthwiseConv2D
    assert student.get_layer("conv_a").input_quantizer is None
    # TWN keeps the float kernel as its latent kernel.
    np.testing.assert_array_equal(
        ops.convert_to_numpy(student.get_layer("conv_a").latent_kernels[0]),
        ops.convert_to_numpy(model.get_layer("conv_a").kernel),
    )


def test_sequential_model_trains_after_conversion():
    model = keras.Sequential(
        [
            keras.Input((6, 6, 1)),
            keras.layers.Conv2D(4, 3),
            keras.layers.Conv2D(4, 3),
            keras.layers.Flatten(),
            keras.layers.Dense(6),
            keras.layers.Dense(2),
        ]
    )
    student = sttn.ternarize(model)
    assert [type(ly).__name__ for ly in student.layers] == [
        "Conv2D",
        "TernaryConv2D",
        "Flatten",
        "TernaryDense",
        "Dense",
    ]
    student.compile("adam", "sparse_categorical_crossentropy")
    student.fit(np.ones((4, 6, 6, 1)), np.array([0, 1, 0, 1]), verbose=0)


def test_warm_start_latents_start_apart_and_in_range():
    w = np.random.default_rng(1).normal(size=(3, 3, 4, 5)).astype("float32")
    w1, w2 = sttn.float_to_sttn.warm_start_latent_kernels(
        w, sttn.quantizers.get("sttn")
    )
    assert np.abs(w1).max() <= 1 and np.abs(w2).max() <= 1
    assert not np.array_equal(w1, w2)


def test_subclassed_model_is_refused():
    class Tiny(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Tiny()
    model(np.ones((1, 3)))
    with pytest.raises(ValueError, match="Tiny"):
        sttn.ternarize(model)


def test_shared_layer_is_refused():
    shared = keras.layers.Dense(4, name="shared_dense")
    a, b = keras.Input((4,)), keras.Input((4,))
    model = keras.Model([a, b], keras.layers.Add()([shared(a), shared(b)]))
    with pytest.raises(ValueError, match="shared_dense"):
        sttn.ternarize(model)


def test_nested_subclassed_model_is_refused():
    class Inner(keras.Model):
        def __init__(self):
            super().__init__(name="inner")
            self.dense = keras.layers.Dense(4)

        def call(self, x):
            return self.dense(x)

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(Inner()(inputs)))
    with pytest.raises(ValueError, match="'inner' \\(nested in"):
        sttn.ternarize(model)


def test_bad_arguments():
    model = _residual_model()
    with pytest.raises(ValueError, match="Received: model="):
        sttn.ternarize("model.keras")
    with pytest.raises(ValueError, match=r"exclude=\('nope',\)"):
        sttn.ternarize(model, exclude=("nope",))
    with pytest.raises(ValueError, match="would change nothing"):
        sttn.ternarize(model, kernel_quantizer=None, input_quantizer=None)
    with pytest.raises(ValueError, match="kernel_quantizer="):
        sttn.ternarize(model, kernel_quantizer="ternary")
