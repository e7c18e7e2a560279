"""Quantizer values and gradients (backend-agnostic: also run under JAX)."""

import warnings

import keras
import numpy as np
import pytest
from backend_utils import value_and_grads
from keras import ops

from sttn_keras import quantizers as q


def _sign(w):
    return np.where(w >= 0, 1.0, -1.0).astype("float32")


class TestTernaryActivation:
    def test_values_at_and_around_thresholds(self):
        x = np.array([-2.0, -0.51, -0.5, -0.2, 0.0, 0.5, 0.50001, 3.0], "float32")
        y = ops.convert_to_numpy(q.ternary_activation(x))
        np.testing.assert_array_equal(y, [-1, -1, 0, 0, 0, 0, 1, 1])

    def test_configurable_threshold(self):
        y = ops.convert_to_numpy(
            q.TernaryActivation(threshold=0.1)(np.array([0.2, -0.2, 0.05], "float32"))
        )
        np.testing.assert_array_equal(y, [1, -1, 0])

    def test_gradient_is_clipped_straight_through(self):
        x = np.array([-1.5, -0.99, -0.3, 0.0, 0.7, 1.0, 2.0], "float32")
        upstream = np.arange(1, 8, dtype="float32")
        _, (gx,) = value_and_grads(
            lambda x: ops.sum(q.ternary_activation(x) * upstream), x
        )
        np.testing.assert_array_equal(gx, upstream * (np.abs(x) < 1.0))

    def test_gradient_window_follows_clip_value(self):
        x = np.array([-1.5, 0.3, 1.5], "float32")
        quant = q.TernaryActivation(clip_value=2.0)
        _, (gx,) = value_and_grads(lambda x: ops.sum(quant(x)), x)
        np.testing.assert_array_equal(gx, [1, 1, 1])


class TestSoftThresholdTernary:
    def setup_method(self):
        rng = np.random.default_rng(0)
        self.w1 = rng.uniform(-1, 1, (3, 3, 4, 5)).astype("float32")
        self.w2 = rng.uniform(-1, 1, (3, 3, 4, 5)).astype("float32")
        self.g = rng.normal(size=(3, 3, 4, 5)).astype("float32")

    def test_forward_matches_formula(self):
        y = ops.convert_to_numpy(q.soft_threshold_ternary(self.w1, self.w2))
        n = 3 * 3 * 4
        alpha = (np.abs(self.w1).sum((0, 1, 2)) + np.abs(self.w2).sum((0, 1, 2))) / (
            2 * n
        )
        expected = alpha * (_sign(self.w1) + _sign(self.w2))
        np.testing.assert_allclose(y, expected, rtol=1e-6)

    def test_values_are_alpha_times_minus2_0_2(self):
        y = ops.convert_to_numpy(q.soft_threshold_ternary(self.w1, self.w2))
        alpha = y.max(axis=(0, 1, 2), keepdims=True) / 2
        ratio = np.round(y / alpha)
        assert set(np.unique(ratio)) <= {-2.0, 0.0, 2.0}
        assert (ratio == 0).any() and (ratio != 0).any()

    def test_gradient_matches_closed_form_surrogate(self):
        _, (g1, g2) = value_and_grads(
            lambda a, b: ops.sum(q.soft_threshold_ternary(a, b) * self.g),
            self.w1,
            self.w2,
        )
        axes = (0, 1, 2)
        for w, got in ((self.w1, g1), (self.w2, g2)):
            s = _sign(w)
            expected = self.g + s * np.mean(s * self.g, axis=axes, keepdims=True)
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)

    def test_equal_latents_get_equal_gradients(self):
        # Why W1 and W2 must start different (see the method notes).
        _, (g1, g2) = value_and_grads(
            lambda a, b: ops.sum(q.soft_threshold_ternary(a, b) * self.g),
            self.w1,
            self.w1,
        )
        np.testing.assert_array_equal(g1, g2)

    def test_to_trits_reproduces_forward_exactly(self):
        trits, scale = q.SoftThresholdTernary().to_trits(self.w1, self.w2)
        trits = ops.convert_to_numpy(trits)
        assert trits.dtype == np.int8 and set(np.unique(trits)) <= {-1, 0, 1}
        y = ops.convert_to_numpy(q.soft_threshold_ternary(self.w1, self.w2))
        np.testing.assert_array_equal(trits * ops.convert_to_numpy(scale), y)

    def test_custom_reduce_axes(self):
        # Depthwise kernels reduce over the spatial axes only.
        y = ops.convert_to_numpy(
            q.soft_threshold_ternary(self.w1, self.w2, reduce_axes=(0, 1))
        )
        alpha = (np.abs(self.w1).mean((0, 1)) + np.abs(self.w2).mean((0, 1))) / 2
        np.testing.assert_allclose(
            y, alpha * (_sign(self.w1) + _sign(self.w2)), rtol=1e-6
        )

    def test_sign_of_zero_is_plus_one(self):
        trits, _ = q.SoftThresholdTernary().to_trits(
            np.zeros((2, 1), "float32"), np.zeros((2, 1), "float32")
        )
        np.testing.assert_array_equal(ops.convert_to_numpy(trits), [[1], [1]])


class TestHardThresholdTernary:
    def setup_method(self):
        self.w = np.random.default_rng(1).normal(size=(16, 6)).astype("float32")

    def test_forward_matches_twn(self):
        y = ops.convert_to_numpy(q.hard_threshold_ternary(self.w))
        delta = 0.7 * np.abs(self.w).mean(0)
        above = np.abs(self.w) > delta
        alpha = (np.abs(self.w) * above).sum(0) / above.sum(0)
        np.testing.assert_allclose(y, alpha * np.sign(self.w) * above, rtol=1e-6)

    def test_gradient_is_straight_through(self):
        g = np.random.default_rng(2).normal(size=self.w.shape).astype("float32")
        _, (gw,) = value_and_grads(
            lambda w: ops.sum(q.hard_threshold_ternary(w) * g), self.w
        )
        np.testing.assert_allclose(gw, g, rtol=1e-6)

    def test_to_trits_reproduces_forward(self):
        trits, scale = q.HardThresholdTernary().to_trits(self.w)
        y = ops.convert_to_numpy(q.hard_threshold_ternary(self.w))
        np.testing.assert_array_equal(
            ops.convert_to_numpy(trits) * ops.convert_to_numpy(scale), y
        )

    def test_all_zero_channel_has_zero_scale(self):
        trits, scale = q.HardThresholdTernary().to_trits(np.zeros((4, 2), "float32"))
        assert np.all(ops.convert_to_numpy(trits) == 0)
        assert np.all(np.isfinite(ops.convert_to_numpy(scale)))


class TestSerialization:
    @pytest.mark.parametrize(
        "alias,cls",
        [
            ("sttn", q.SoftThresholdTernary),
            ("twn", q.HardThresholdTernary),
            ("ternary", q.TernaryActivation),
        ],
    )
    def test_aliases(self, alias, cls):
        assert isinstance(q.get(alias), cls)
        assert isinstance(q.get(alias.upper()), cls)

    @pytest.mark.parametrize(
        "quantizer",
        [
            q.SoftThresholdTernary(),
            q.HardThresholdTernary(0.5),
            q.TernaryActivation(0.3, 1.5),
        ],
    )
    def test_round_trip(self, quantizer):
        restored = q.deserialize(q.serialize(quantizer))
        assert restored == quantizer
        assert q.get(q.serialize(quantizer)) == quantizer

    def test_none_passes_through(self):
        assert q.get(None) is None and q.serialize(None) is None

    def test_precision_is_two_bits(self):
        assert q.get("sttn").precision == 2


class TestBadArguments:
    def test_unknown_alias(self):
        with pytest.raises(ValueError, match=r"Received: kernel_quantizer='ste_sign'"):
            q.get("ste_sign", argument="kernel_quantizer")

    def test_wrong_kind(self):
        with pytest.raises(ValueError, match="expected a kernel quantizer"):
            q.get("ternary", kind="kernel", argument="kernel_quantizer")
        with pytest.raises(ValueError, match="expected an activation quantizer"):
            q.get("sttn", kind="input", argument="input_quantizer")

    def test_wrong_type(self):
        with pytest.raises(ValueError, match="Received: quantizer=3"):
            q.get(3)

    @pytest.mark.parametrize(
        "kwargs", [{"threshold": 0}, {"threshold": -1.0}, {"clip_value": "x"}]
    )
    def test_activation_arguments(self, kwargs):
        with pytest.raises(ValueError, match="Received an invalid value"):
            q.TernaryActivation(**kwargs)

    def test_twn_factor(self):
        with pytest.raises(ValueError, match="threshold_factor=0"):
            q.HardThresholdTernary(threshold_factor=0)


def test_quantizers_are_keras_serializable_by_name():
    config = keras.saving.serialize_keras_object(q.TernaryActivation(0.25))
    assert config["registered_name"].startswith("sttn>")


class TestRenamedTernarizeMethod:
    """``KernelQuantizer.ternarize()`` was renamed ``to_trits()`` (``ternarize``
    is the model conversion); the old name works for one release, warning."""

    def setup_method(self):
        rng = np.random.default_rng(3)
        self.w1 = rng.uniform(-1, 1, size=(3, 3, 2, 4)).astype("float32")
        self.w2 = rng.uniform(-1, 1, size=(3, 3, 2, 4)).astype("float32")

    def test_calling_ternarize_warns_and_returns_to_trits(self):
        quant = q.SoftThresholdTernary()
        with pytest.warns(
            DeprecationWarning,
            match=r"SoftThresholdTernary\.ternarize\(\) is deprecated.*to_trits\(\)",
        ) as record:
            old = quant.ternarize(self.w1, self.w2, reduce_axes=(0, 1))
        assert record[0].filename == __file__  # points at the caller
        new = quant.to_trits(self.w1, self.w2, reduce_axes=(0, 1))
        for a, b in zip(old, new):
            np.testing.assert_array_equal(
                ops.convert_to_numpy(a), ops.convert_to_numpy(b)
            )

    def test_a_subclass_defining_ternarize_still_works(self):
        with pytest.warns(
            DeprecationWarning, match="OldSign defines ternarize"
        ) as record:

            class OldSign(q.KernelQuantizer):
                def __call__(self, w, reduce_axes=None):
                    return ops.sign(w)

                def ternarize(self, w, reduce_axes=None):
                    return ops.cast(ops.sign(w), "int8"), ops.ones((1, w.shape[-1]))

        assert record[0].filename == __file__  # the class statement
        w = np.array([[0.5, -2.0], [0.0, 3.0]], "float32")
        trits, scale = OldSign().to_trits(w)  # instantiable: not abstract
        np.testing.assert_array_equal(ops.convert_to_numpy(trits), [[1, -1], [0, 1]])
        assert ops.convert_to_numpy(scale).shape == (1, 2)

    def test_the_new_name_does_not_warn(self):
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)

            class NewSign(q.KernelQuantizer):
                def __call__(self, w, reduce_axes=None):
                    return ops.sign(w)

                def to_trits(self, w, reduce_axes=None):
                    return ops.cast(ops.sign(w), "int8"), ops.ones((1, w.shape[-1]))

            NewSign().to_trits(self.w1[0, 0])
            q.HardThresholdTernary().to_trits(self.w1[0, 0])

    def test_a_subclass_without_to_trits_is_abstract(self):
        class NoTrits(q.KernelQuantizer):
            def __call__(self, w, reduce_axes=None):
                return w

        with pytest.raises(TypeError, match="to_trits"):
            NoTrits()
