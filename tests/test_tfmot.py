"""The TF-MOT adapter for tf_keras users (sttn_keras.tfmot).

The quantizers' math is checked against sttn_keras.quantizers (forward and
gradient), the conversion to Keras 3 against the tf_keras model, and the
whole path (train with TF-MOT, to_keras3, to_tflite) on a Fashion-MNIST
subset. Needs the `[tfmot]` extras (requirements-tfmot.txt, installed by
`make setup`); without them the tests skip and say so.
"""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip(
    "tensorflow_model_optimization",
    reason="tensorflow-model-optimization is not installed (pip install "
    "'sttn-keras[tfmot]' or make setup)",
)
pytest.importorskip("tf_keras", reason="tf-keras is not installed")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

import sttn_keras as sttn  # noqa: E402
from sttn_keras import quantizers as sq  # noqa: E402
from sttn_keras import tfmot as st  # noqa: E402
from tests.helpers import (  # noqa: E402
    assert_close_except_near_threshold,
    threshold_margins,
)

L = tf_keras.layers
qk = st.tfmot.quantization.keras


def test_plain_import_keeps_tfmot_out_and_tfmot_import_keeps_keras3():
    script = textwrap.dedent("""
        import os, sys
        os.environ.pop("TF_USE_LEGACY_KERAS", None)
        import sttn_keras
        assert "tf_keras" not in sys.modules, "import sttn_keras pulled tf_keras"
        assert "tensorflow_model_optimization" not in sys.modules
        from sttn_keras import tfmot
        assert "TF_USE_LEGACY_KERAS" not in os.environ, os.environ
        import keras, tensorflow as tf
        assert keras.__version__.startswith("3."), keras.__version__
        assert tf.keras.__name__.startswith("keras"), tf.keras.__name__
        print("OK")
    """)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("TF_USE_LEGACY_KERAS", None)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK" in result.stdout


# -- the math against sttn_keras.quantizers -----------------------------------


def _grads(fn, *xs, upstream):
    xs = [tf.Variable(x) for x in xs]
    with tf.GradientTape() as tape:
        y = fn(*[tf.convert_to_tensor(x) for x in xs])
        loss = tf.reduce_sum(y * upstream)
    return y.numpy(), [g.numpy() for g in tape.gradient(loss, xs)]


@pytest.mark.parametrize(
    "shape, axes", [((3, 3, 4, 5), (0, 1, 2)), ((6, 7), (0,)), ((3, 3, 4, 2), (0, 1))]
)
def test_kernel_quantizers_match_keras3(shape, axes):
    rng = np.random.default_rng(0)
    w1 = rng.uniform(-1, 1, shape).astype("float32")
    w2 = rng.uniform(-1, 1, shape).astype("float32")
    g = rng.normal(size=shape).astype("float32")

    q = st.SttnKernelQuantizer(axes)
    y, grads = _grads(lambda a, b: q(a, True, {"latent_2": b}), w1, w2, upstream=g)
    y_ref, grads_ref = _grads(
        lambda a, b: sq.soft_threshold_ternary(a, b, axes), w1, w2, upstream=g
    )
    np.testing.assert_allclose(y, y_ref, rtol=1e-6)
    for got, want in zip(grads, grads_ref):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

    t = st.TwnKernelQuantizer(axes)
    y, (grad,) = _grads(lambda a: t(a, True, {}), w1, upstream=g)
    y_ref, (grad_ref,) = _grads(
        lambda a: sq.hard_threshold_ternary(a, axes), w1, upstream=g
    )
    np.testing.assert_allclose(y, y_ref, rtol=1e-6)
    np.testing.assert_allclose(grad, grad_ref)


def test_ternary_activation_matches_keras3():
    x = np.linspace(-1.5, 1.5, 61).astype("float32")
    g = np.arange(61, dtype="float32")
    q = st.TernaryActivationQuantizer()
    y, (grad,) = _grads(lambda a: q(a, True, {}), x, upstream=g)
    y_ref, (grad_ref,) = _grads(sq.ternary_activation, x, upstream=g)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(grad, grad_ref)
    assert set(np.unique(y)) == {-1.0, 0.0, 1.0}


# -- small models, no training ---------------------------------------------------


def _functional(kernel_quantizer="sttn", ternary_outputs=True):
    tf_keras.utils.set_random_seed(1)
    out_cfg = (lambda layer: st.annotate(layer)) if ternary_outputs else (lambda x: x)
    inp = L.Input((12, 12, 2))
    x = L.Conv2D(8, 3, padding="same")(inp)
    x = out_cfg(L.BatchNormalization())(x)
    x = st.annotate(
        L.DepthwiseConv2D(3, strides=2, padding="same"),
        kernel_quantizer=kernel_quantizer,
    )(x)
    x = out_cfg(L.BatchNormalization())(x)
    x = st.annotate(
        L.Conv2D(8, 3, padding="same", activation="relu"),
        kernel_quantizer=kernel_quantizer,
    )(x)
    x = out_cfg(L.BatchNormalization())(x)
    x = L.Flatten()(x)
    x = st.annotate(L.Dense(16), kernel_quantizer=kernel_quantizer)(x)
    out = L.Dense(4)(x)
    return tf_keras.Model(inp, out)


@pytest.mark.parametrize(
    "kernel_quantizer, ternary_outputs", [("sttn", True), ("twn", False)]
)
def test_to_keras3_computes_the_same(kernel_quantizer, ternary_outputs):
    qat = st.quantize_apply(_functional(kernel_quantizer, ternary_outputs))
    x = np.random.default_rng(2).normal(size=(16, 12, 12, 2)).astype("float32")
    k3 = st.to_keras3(qat)
    kinds = [type(ly).__name__ for ly in k3.layers]
    assert kinds.count("TernaryConv2D") == 1 and kinds.count("TernaryDense") == 1
    assert kinds.count("TernaryDepthwiseConv2D") == 1
    ternary = [ly for ly in k3.layers if type(ly).__name__.startswith("Ternary")]
    for layer in ternary:
        want = {"sttn": "SoftThresholdTernary", "twn": "HardThresholdTernary"}
        assert type(layer.kernel_quantizer).__name__ == want[kernel_quantizer]
        assert (layer.input_quantizer is not None) == ternary_outputs
    np.testing.assert_allclose(
        k3.predict(x, verbose=0), qat.predict(x, verbose=0), rtol=1e-4, atol=1e-4
    )


def test_sttn_warm_start_and_clamp():
    # W1, W2 start at the TWN warm start of the float kernel: clamped to
    # [-1, 1], with the TWN zeros; both carry the LatentClip constraint.
    model = tf_keras.Sequential([L.InputLayer((6,)), L.Dense(5)])
    kernel = np.linspace(-3, 3, 30).reshape(6, 5).astype("float32")
    model.layers[0].kernel.assign(kernel)
    float_kernel = model.layers[0].kernel.numpy()
    annotated = tf_keras.Sequential([L.InputLayer((6,)), st.annotate(model.layers[0])])
    qat = st.quantize_apply(annotated)
    wrapper = qat.layers[0]
    w1 = [w for w in wrapper.weights if w.name.endswith("/kernel:0")][0]
    w2 = [w for w in wrapper.weights if w.name.endswith("kernel_latent_2:0")][0]
    want1, want2 = sttn.float_to_sttn.warm_start_latent_kernels(
        float_kernel, sq.get("sttn")
    )
    np.testing.assert_allclose(w1.numpy(), want1, rtol=1e-6)
    np.testing.assert_allclose(w2.numpy(), want2, rtol=1e-6)
    assert isinstance(w1.constraint, st.LatentClip)
    assert isinstance(w2.constraint, st.LatentClip)


# -- bad input ---------------------------------------------------------------------


def test_to_keras3_refuses_a_model_without_sttn_layers():
    model = tf_keras.Sequential([L.InputLayer((4,)), L.Dense(3)])
    with pytest.raises(ValueError, match="no layer quantized with an STTN/TWN config"):
        st.to_keras3(model)


def test_to_keras3_refuses_an_annotated_model():
    model = tf_keras.Sequential([L.InputLayer((4,)), st.annotate(L.Dense(3))])
    with pytest.raises(ValueError, match="annotated but not quantized"):
        st.to_keras3(model)


def test_to_keras3_refuses_keras3_models():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="expected a tf_keras model"):
        st.to_keras3(model)


def test_to_keras3_names_an_unsupported_layer():
    inp = L.Input((8,))
    x = L.LayerNormalization(name="ln")(inp)
    out = st.annotate(L.Dense(3))(x)
    qat = st.quantize_apply(tf_keras.Model(inp, out))
    with pytest.raises(ValueError, match="layer 'ln' of type LayerNormalization"):
        st.to_keras3(qat)


def test_to_keras3_refuses_a_ternary_output_feeding_a_float_layer():
    inp = L.Input((8,))
    x = st.annotate(L.BatchNormalization(name="bn"))(inp)
    x = L.Dense(4, name="float_head")(x)
    out = st.annotate(L.Dense(3))(x)
    qat = st.quantize_apply(tf_keras.Model(inp, out))
    with pytest.raises(ValueError, match="reaches layer 'float_head'"):
        st.to_keras3(qat)


def test_sttn_config_needs_the_clamp():
    model = tf_keras.Sequential(
        [
            L.InputLayer((4,)),
            qk.quantize_annotate_layer(L.Dense(3), st.SttnDenseConfig()),
        ]
    )
    with pytest.raises(ValueError, match="must be clamped to \\[-1, 1\\]"):
        st.quantize_apply(model)


def test_config_on_the_wrong_layer_type():
    model = tf_keras.Sequential(
        [
            L.InputLayer((4, 4, 1)),
            qk.quantize_annotate_layer(
                L.Conv2D(2, 3, name="c"), st.SttnDenseConfig("twn")
            ),
        ]
    )
    with pytest.raises(ValueError, match="layer 'c' of type Conv2D"):
        st.quantize_apply(model)


def test_bad_arguments():
    with pytest.raises(ValueError, match="kernel_quantizer='ttq'"):
        st.SttnConv2DConfig(kernel_quantizer="ttq")
    with pytest.raises(ValueError, match="expected a tf_keras layer"):
        st.annotate(keras.layers.Dense(3))
    with pytest.raises(ValueError, match="threshold=0"):
        st.TernaryOutputConfig(threshold=0)


# -- real data: train with TF-MOT, convert, export --------------------------------


@pytest.mark.slow
def test_fashion_mnist_train_convert_export(tmp_path):
    """Train a small tf_keras CNN (float stem, STTN depthwise, conv and dense,
    ternary activations, float head) for one epoch on 4,000 Fashion-MNIST
    images with the adapter, then check that the kernels are ternary, that
    to_keras3 computes what tf_keras computes (up to trits flipped by
    rounding next to a threshold), and that the .tflite (sttn ops) agrees
    with tf_keras on >= 99% of 2,000 test images. Measured on 2 cores, seed
    0: test accuracy 0.63 after this one short epoch (chance 0.10), Keras 3
    outputs identical to tf_keras on the build machine and on all but one
    image (a trit on its threshold) on an AVX2 EPYC, TFLite argmax agreement
    100%."""
    try:
        (x, y), (xt, yt) = sttn.datasets.load_fashion_mnist()
    except Exception as e:  # noqa: BLE001 (no STTN_DATA_DIR and no network)
        pytest.skip(f"Fashion-MNIST is not available here: {e}")

    def prep(a):
        return (a.astype("float32") / 255.0).reshape(len(a), 28, 28, 1)

    x, y = prep(x[:4000]), y[:4000].astype("int32")
    xt, yt = prep(xt[:2000]), yt[:2000]

    tf_keras.utils.set_random_seed(0)
    inp = L.Input((28, 28, 1))
    h = L.Conv2D(16, 3, strides=2, padding="same")(inp)  # float stem
    h = st.annotate(L.BatchNormalization(momentum=0.9))(h)
    h = st.annotate(L.DepthwiseConv2D(3, padding="same"))(h)
    h = st.annotate(L.BatchNormalization(momentum=0.9))(h)
    h = st.annotate(L.Conv2D(32, 3, strides=2, padding="same"))(h)
    h = st.annotate(L.BatchNormalization(momentum=0.9))(h)
    h = L.Flatten()(h)
    h = st.annotate(L.Dense(32))(h)
    h = L.BatchNormalization(momentum=0.9)(h)
    h = L.ReLU()(h)
    out = L.Dense(10)(h)  # float head
    qat = st.quantize_apply(tf_keras.Model(inp, out))
    qat.compile(
        tf_keras.optimizers.Adam(2e-3),
        tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    qat.fit(x, y, batch_size=64, epochs=1, verbose=0)
    logits = qat.predict(xt, batch_size=500, verbose=0)
    accuracy = float(np.mean(logits.argmax(1) == yt))
    assert accuracy >= 0.45, accuracy  # learned something (chance: 0.10)

    # Latent kernels stayed in [-1, 1]; quantized kernels are ternary.
    k3 = st.to_keras3(qat)
    ternary = [ly for ly in k3.layers if type(ly).__name__.startswith("Ternary")]
    assert len(ternary) == 3
    for wrapper in (
        ly
        for ly in qat.layers
        if isinstance(getattr(ly, "quantize_config", None), st._TernaryKernelConfig)
    ):
        attr = wrapper.quantize_config._kernel_attr
        w1 = [w for w in wrapper.weights if w.name.endswith(f"/{attr}:0")][0]
        w2 = [w for w in wrapper.weights if w.name.endswith(f"{attr}_latent_2:0")][0]
        assert np.abs(w1.numpy()).max() <= 1.0 and np.abs(w2.numpy()).max() <= 1.0
        q = st.SttnKernelQuantizer(wrapper.quantize_config._reduce_axes(w1))
        quantized = q(w1, False, {"latent_2": w2}).numpy()
        trits, scale = k3.get_layer(wrapper.layer.name).get_ternary_kernel()
        assert set(np.unique(trits)) == {-1, 0, 1}
        if trits.ndim == 4 and attr == "depthwise_kernel":  # (kh, kw, C, mult)
            scale = scale.reshape(trits.shape[2:])
        np.testing.assert_allclose(quantized, trits * scale, rtol=1e-6)

    # Keras 3 computes what tf_keras computes, up to float rounding; where a
    # ternary input sits on its threshold, the two roundings may give
    # different trits (issue 17: 1 of 2,000 images on an AVX2 EPYC, 0 on the
    # build machine). The two graphs differ in the float stem and in how BN
    # is computed (fused in tf_keras), a few ulps of the stem's output scaled
    # by gamma / sqrt(var): band 1e-4 in BN-output units. Every image whose
    # ternary inputs all stay outside it must agree to 1e-4, and at most 1%
    # of the images may differ at all (measured: 1 and 0 of 2,000).
    k3_logits = k3.predict(xt, batch_size=500, verbose=0)
    # Measured here (seed 0, 2,000 images): 97%, 71% and 0% of the images
    # keep every ternary input 1e-5, 1e-4 and 1e-3 from its threshold.
    margins = threshold_margins(k3, xt)
    assert_close_except_near_threshold(
        k3_logits, logits, margins, band=1e-4, max_fraction=0.01, min_checked=0.5
    )

    path = tmp_path / "tfmot.tflite"
    data = sttn.export.to_tflite(k3, path)
    hist = sttn.export.op_histogram(data)
    assert hist.get("SttnConv2D") == 1 and hist.get("SttnDepthwiseConv2D") == 1
    assert hist.get("SttnFullyConnected") == 1
    assert hist.get("CONV_2D") == 1 and hist.get("FULLY_CONNECTED") == 1  # stem, head
    interp = sttn.export.Interpreter(str(path))
    tflite_logits = interp.predict(xt)
    agreement = float(np.mean(tflite_logits.argmax(1) == logits.argmax(1)))
    assert agreement >= 0.99, agreement
