"""Kernel tests: every sttn op, every registered kernel variant, one grid.

Oracle: ``tests/ternary_reference.py`` (NumPy, float64 accumulation).

Tolerances. The grid uses data for which float32 arithmetic is exact, so it
asserts *bit equality* for every variant: trits and packed words exactly;
scale = +-2^k, bias a multiple of 1/8 and float inputs multiples of 1/4, so
the integer accumulator, the float accumulator (any summation order) and the
affine epilogue are all exact. ``test_float_input_tolerance`` uses Gaussian
data and random scales, where summation order matters: there the stated
tolerance is ``|y - ref| <= 1e-5 + 1e-5 * |ref|`` (float32 accumulation of at
most 3*3*65 terms).

Bad-input tests run in a subprocess, so a crash (signal) is told apart from a
Python exception.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tests import helpers  # noqa: E402
from tests import ternary_reference as ref  # noqa: E402
from tests import tflite_builder as tb  # noqa: E402

runtime = pytest.importorskip("sttn_keras.export.runtime")
# The oracle's own C++ twin and every ISA path this CPU runs (each its own
# kernel type, so one process covers portable, popcnt, avx2 and avx512 on an
# AVX-512 machine; "optimized" is an alias of the best one, checked below).
KERNELS = ("reference",) + tuple(
    k for k in runtime.supported_kernels() if k not in ("reference", "optimized")
)
CHANNELS = (1, 3, 31, 33, 65)


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def _trits(rng, shape, p_zero=0.4) -> np.ndarray:
    t = rng.choice(
        np.array([-1, 0, 1], np.int8),
        size=shape,
        p=[(1 - p_zero) / 2, p_zero, (1 - p_zero) / 2],
    )
    return t.astype(np.int8)


_dyadic_affine = helpers.dyadic_affine
_exact_floats = helpers.exact_floats


# Weight encodings of the grid: a version-1 op (no `weight_encoding` key, the
# files written before version 2 existed) on every kernel, base3 on every
# kernel, and an explicit version-2 "trit2" on the reference kernel. The
# weights are decoded once in Prepare, before any ISA path sees them.
KERNEL_ENCODINGS = (
    [(k, None) for k in KERNELS]
    + [(k, "base3") for k in KERNELS]
    + [("reference", "trit2")]
)
KERNEL_ENCODING_IDS = [
    f"{k}-{'v1' if e is None else 'v2_' + e}" for k, e in KERNEL_ENCODINGS
]


def _packed(trits: np.ndarray, encoding: str | None) -> np.ndarray:
    if encoding == "base3":
        return ref.pack_trits_base3(trits)
    return ref.pack_trits_file(trits)


def _run(model: bytes, x: np.ndarray, kernel: str) -> np.ndarray:
    interp = runtime.Interpreter(model, kernel=kernel)
    assert interp.kernel == kernel
    return interp.predict(x)


# ---------------------------------------------------------------------------
# Pure-Python reference self-checks (the oracle must be right too).


def test_reference_packing_roundtrip():
    rng = np.random.default_rng(0)
    for n in (0, 1, 3, 4, 5, 31, 64, 65):
        t = _trits(rng, n)
        packed = ref.pack_trits_file(t)
        assert packed.dtype == np.uint8 and packed.size == (n + 3) // 4
        np.testing.assert_array_equal(ref.unpack_trits_file(packed, n), t)
    assert ref.pack_trits_file(np.array([1, 0, -1, 1, -1])).tolist() == [
        0b01110001,
        0b11,
    ]
    with pytest.raises(ValueError, match="0b10"):
        ref.unpack_trits_file(np.array([0b10], np.uint8), 1)
    for c in CHANNELS:
        t = _trits(rng, (2, 3, c))
        p = ref.pack_activations(t)
        assert p.shape == (2, 3, ref.packed_width(c)) and p.dtype == np.int32
        np.testing.assert_array_equal(ref.unpack_activations(p, c), t)
    # Bit layout: channel 32 b + j is bit j of words 2b (mask) and 2b+1 (sign).
    t = np.zeros(40, np.int8)
    t[0], t[33] = 1, -1
    assert ref.pack_activations(t).view(np.uint32).tolist() == [1, 0, 2, 2]


def test_reference_output_size_matches_tflite_rule():
    assert ref.output_size(7, 3, 2, "SAME") == (4, 1)
    assert ref.output_size(6, 3, 2, "SAME") == (3, 0)
    assert ref.output_size(7, 3, 2, "VALID") == (3, 0)
    assert ref.output_size(5, 1, 2, "VALID") == (3, 0)


# ---------------------------------------------------------------------------
# The grid.


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("rank", (2, 4))
@pytest.mark.parametrize("channels", CHANNELS)
def test_ternarize(kernel, rank, channels):
    rng = _rng("ternarize", rank, channels)
    lo = rng.normal(-0.5, 0.3, channels).astype(np.float32)
    hi = lo + np.abs(rng.normal(1.0, 0.3, channels)).astype(np.float32)
    sgn = rng.choice([-1.0, 1.0], channels).astype(np.float32)
    lo[0], hi[0] = -np.inf, np.inf  # the constant-output case of m == 0
    th = np.stack([lo, hi, sgn]).astype(np.float32)
    shape = (3, channels) if rank == 2 else (3, 2, 3, channels)
    x = rng.normal(0, 1, shape).astype(np.float32)
    x.flat[0] = np.float32(0.5)  # exactly at a threshold
    model = tb.ternarize_model(channels, th, rank=rank, spatial=(2, 3))
    y = _run(model, x, kernel)
    expected = ref.pack_activations(ref.ternarize(x, th))
    np.testing.assert_array_equal(y, expected)


CONV_GRID = list(itertools.product(CHANNELS, (1, 3), (1, 2), ("SAME", "VALID"), (1, 3)))


@pytest.mark.parametrize("kernel,encoding", KERNEL_ENCODINGS, ids=KERNEL_ENCODING_IDS)
@pytest.mark.parametrize("float_in", (False, True), ids=("ternary_in", "float_in"))
@pytest.mark.parametrize("cin,k,stride,padding,batch", CONV_GRID)
def test_conv2d(kernel, float_in, cin, k, stride, padding, batch, encoding):
    rng = _rng("conv", cin, k, stride, padding, batch, float_in)
    cout = int(rng.integers(1, 9))
    activation = ("NONE", "RELU")[(cin + k + stride + batch) % 2]
    kh, kw = k, (k if cin % 2 else max(1, k - 2))  # some non-square kernels
    sh, sw = stride, (stride if batch == 1 else 1)
    h, w = 7, 6
    wt = _trits(rng, (cout, kh, kw, cin))
    scale, bias = _dyadic_affine(rng, cout)
    if float_in:
        x = _exact_floats(rng, (batch, h, w, cin))
        x_in = x
    else:
        x = _trits(rng, (batch, h, w, cin))
        x_in = ref.pack_activations(x)
    model = tb.conv_model(
        "conv2d",
        in_channels=cin,
        out_channels=cout,
        kernel=(kh, kw),
        strides=(sh, sw),
        padding=padding,
        activation=activation,
        weights_packed=_packed(wt, encoding),
        scale=scale,
        bias=bias,
        input_hw=(h, w),
        float_in=float_in,
        weight_encoding=encoding,
    )
    y = _run(model, x_in, kernel)
    expected = ref.affine(ref.conv2d(x, wt, (sh, sw), padding), scale, bias, activation)
    assert y.shape == expected.shape
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("kernel,encoding", KERNEL_ENCODINGS, ids=KERNEL_ENCODING_IDS)
@pytest.mark.parametrize("float_in", (False, True), ids=("ternary_in", "float_in"))
@pytest.mark.parametrize("cin,k,stride,padding,batch", CONV_GRID)
def test_depthwise_conv2d(kernel, float_in, cin, k, stride, padding, batch, encoding):
    rng = _rng("dw", cin, k, stride, padding, batch, float_in)
    mult = 1 + (cin + batch) % 2
    cout = cin * mult
    activation = ("NONE", "RELU")[(cin + k + stride) % 2]
    h, w = 6, 7
    wt = _trits(rng, (k, k, cout))
    scale, bias = _dyadic_affine(rng, cout)
    if float_in:
        x = _exact_floats(rng, (batch, h, w, cin))
        x_in = x
    else:
        x = _trits(rng, (batch, h, w, cin))
        x_in = ref.pack_activations(x)
    model = tb.conv_model(
        "depthwise",
        in_channels=cin,
        out_channels=cout,
        kernel=(k, k),
        strides=(stride, stride),
        padding=padding,
        activation=activation,
        weights_packed=_packed(wt, encoding),
        scale=scale,
        bias=bias,
        input_hw=(h, w),
        depth_multiplier=mult,
        float_in=float_in,
        weight_encoding=encoding,
    )
    y = _run(model, x_in, kernel)
    expected = ref.affine(
        ref.depthwise_conv2d(x, wt, mult, (stride, stride), padding),
        scale,
        bias,
        activation,
    )
    assert y.shape == expected.shape
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("kernel,encoding", KERNEL_ENCODINGS, ids=KERNEL_ENCODING_IDS)
@pytest.mark.parametrize("float_in", (False, True), ids=("ternary_in", "float_in"))
@pytest.mark.parametrize("activation", ("NONE", "RELU"))
@pytest.mark.parametrize("batch", (1, 3))
@pytest.mark.parametrize("cin", CHANNELS + (100,))
def test_fully_connected(kernel, float_in, activation, batch, cin, encoding):
    rng = _rng("fc", cin, batch, activation, float_in)
    cout = int(rng.integers(1, 12))
    wt = _trits(rng, (cout, cin))
    scale, bias = _dyadic_affine(rng, cout)
    x = _exact_floats(rng, (batch, cin)) if float_in else _trits(rng, (batch, cin))
    x_in = x if float_in else ref.pack_activations(x)
    model = tb.fc_model(
        in_channels=cin,
        out_channels=cout,
        activation=activation,
        weights_packed=_packed(wt, encoding),
        scale=scale,
        bias=bias,
        float_in=float_in,
        weight_encoding=encoding,
    )
    y = _run(model, x_in, kernel)
    expected = ref.affine(ref.fully_connected(x, wt), scale, bias, activation)
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("kernel", KERNELS)
def test_fully_connected_rank3_leading_dims(kernel):
    rng = _rng("fc3")
    cin, cout = 37, 5
    wt = _trits(rng, (cout, cin))
    scale, bias = _dyadic_affine(rng, cout)
    x = _trits(rng, (2, 4, cin))
    model = tb.fc_model(
        in_channels=cin,
        out_channels=cout,
        activation="NONE",
        weights_packed=ref.pack_trits_file(wt),
        scale=scale,
        bias=bias,
        lead_shape=(-1, 4),
    )
    y = _run(model, ref.pack_activations(x), kernel)
    np.testing.assert_array_equal(
        y, ref.affine(ref.fully_connected(x, wt), scale, bias, "NONE")
    )


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("op", ("conv2d", "depthwise", "fc"))
def test_float_input_tolerance(kernel, op):
    """Gaussian inputs, random scales: within 1e-5 + 1e-5 * |ref|."""
    rng = _rng("tol", op)
    cin, cout = 65, 7
    scale = rng.normal(0, 1, cout if op != "depthwise" else cin).astype(np.float32)
    bias = rng.normal(0, 1, scale.size).astype(np.float32)
    if op == "fc":
        wt = _trits(rng, (cout, cin))
        x = rng.normal(0, 1, (3, cin)).astype(np.float32)
        model = tb.fc_model(
            in_channels=cin,
            out_channels=cout,
            activation="NONE",
            weights_packed=ref.pack_trits_file(wt),
            scale=scale,
            bias=bias,
            float_in=True,
        )
        acc = ref.fully_connected(x, wt)
    else:
        x = rng.normal(0, 1, (2, 5, 5, cin)).astype(np.float32)
        if op == "conv2d":
            wt = _trits(rng, (cout, 3, 3, cin))
            acc = ref.conv2d(x, wt, (1, 1), "SAME")
        else:
            wt = _trits(rng, (3, 3, cin))
            acc = ref.depthwise_conv2d(x, wt, 1, (1, 1), "SAME")
        model = tb.conv_model(
            op,
            in_channels=cin,
            out_channels=scale.size,
            kernel=(3, 3),
            strides=(1, 1),
            padding="SAME",
            activation="NONE",
            weights_packed=ref.pack_trits_file(wt),
            scale=scale,
            bias=bias,
            input_hw=(5, 5),
            float_in=True,
        )
    y = _run(model, x, kernel)
    expected = scale.astype(np.float64) * acc + bias
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------
# Runtime behaviour.


def _small_conv_model(cin=33, cout=4, float_in=False, **overrides):
    rng = _rng("small", cin, cout, float_in)
    wt = _trits(rng, (cout, 3, 3, cin))
    scale, bias = _dyadic_affine(rng, cout)
    kwargs = dict(
        in_channels=cin,
        out_channels=cout,
        kernel=(3, 3),
        strides=(1, 1),
        padding="SAME",
        activation="RELU",
        weights_packed=ref.pack_trits_file(wt),
        scale=scale,
        bias=bias,
        input_hw=(5, 5),
        float_in=float_in,
    )
    kwargs.update(overrides)
    return tb.conv_model("conv2d", **kwargs), wt, scale, bias


def test_dynamic_batch_resize_and_batch_size():
    model, wt, scale, bias = _small_conv_model(float_in=True)
    interp = runtime.Interpreter(model)
    rng = np.random.default_rng(1)
    for n, bs in ((1, None), (5, None), (7, 3), (2, 1)):
        x = _exact_floats(rng, (n, 5, 5, 33))
        y = interp.predict(x, batch_size=bs)
        np.testing.assert_array_equal(
            y, ref.affine(ref.conv2d(x, wt, (1, 1), "SAME"), scale, bias, "RELU")
        )


def test_registered_ops_and_verification():
    # The names themselves are tied to op_format.ALL_OPS in test_op_contract.py.
    ops = runtime.registered_ops()
    model, *_ = _small_conv_model()
    for kernel in KERNELS + ("optimized",):
        interp = runtime.Interpreter(model, kernel=kernel)
        # Verified through the runtime's own virtual FindOp after registration.
        assert interp.registered_ops == ops
    info = runtime.native_library_info()
    assert info["optimized_kernel"] in (
        "avx512",
        "avx2",
        "neon",
        "popcnt",
        "portable",
    )
    assert info["optimized_kernel"] in info["supported_kernels"]


def test_every_isa_path_this_cpu_has_is_tested():
    """The grid's kernel list is what the CPU supports, read from /proc/cpuinfo
    independently of the library's own detection (x86-64 Linux)."""
    if not os.path.exists("/proc/cpuinfo") or os.uname().machine != "x86_64":
        pytest.skip("checks x86-64 feature flags from /proc/cpuinfo")
    flags = set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    expected = {"portable"}
    if "popcnt" in flags:
        expected.add("popcnt")
    if {"avx2", "popcnt"} <= flags:
        expected.add("avx2")
    if {"avx512f", "avx512bw", "avx512vl", "avx512_vpopcntdq", "avx2"} <= flags:
        expected.add("avx512")
    assert set(KERNELS) - {"reference"} == expected
    best = runtime.native_library_info()["optimized_kernel"]
    for name in ("avx512", "avx2", "popcnt", "portable"):
        if name in expected:
            assert best == name
            break


def test_unsupported_kernel_type_is_a_clear_error():
    model, *_ = _small_conv_model()
    missing = [
        k
        for k in ("avx512", "avx2", "neon", "popcnt")
        if k not in runtime.supported_kernels()
    ]
    if not missing:
        pytest.skip("this CPU supports every listed path")
    with pytest.raises(ValueError, match="cannot run kernel="):
        runtime.Interpreter(model, kernel=missing[0])


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("threads", (1, 3))
@pytest.mark.parametrize("cout", (1, 8, 9, 16, 17, 40, 100, 200))
@pytest.mark.parametrize("op", ("conv3x3", "conv1x1_s2", "fc"))
def test_ternary_gemm_groups_tiles_threads(kernel, threads, cout, op):
    """Output-channel groups (8 or 16 lanes, partial last group), pixel tiles
    (full, short tail) and threads, bit-exact against the oracle. At 100 and
    200 outputs the 1x1 conv and the dense layer take the table method where
    the path has it (quads at 100, pairs at 200: docs/kernels.md)."""
    rng = _rng("gemm", op, cout)
    cin = 70
    scale, bias = _dyadic_affine(rng, cout)
    if op == "fc":
        batch = 11
        wt = _trits(rng, (cout, cin))
        x = _trits(rng, (batch, cin))
        model = tb.fc_model(
            in_channels=cin,
            out_channels=cout,
            activation="RELU",
            weights_packed=ref.pack_trits_file(wt),
            scale=scale,
            bias=bias,
        )
        expected = ref.affine(ref.fully_connected(x, wt), scale, bias, "RELU")
    else:
        k, stride = (3, 1) if op == "conv3x3" else (1, 2)
        h, w = 9, 7
        wt = _trits(rng, (cout, k, k, cin))
        x = _trits(rng, (2, h, w, cin))
        model = tb.conv_model(
            "conv2d",
            in_channels=cin,
            out_channels=cout,
            kernel=(k, k),
            strides=(stride, stride),
            padding="SAME",
            activation="NONE",
            weights_packed=ref.pack_trits_file(wt),
            scale=scale,
            bias=bias,
            input_hw=(h, w),
            float_in=False,
        )
        expected = ref.affine(
            ref.conv2d(x, wt, (stride, stride), "SAME"), scale, bias, "NONE"
        )
    interp = runtime.Interpreter(model, kernel=kernel, num_threads=threads)
    np.testing.assert_array_equal(interp.predict(ref.pack_activations(x)), expected)


def _output_thresholds(rng, n):
    lo = rng.normal(-0.5, 1.0, n).astype(np.float32)
    hi = (lo + np.abs(rng.normal(1.0, 0.5, n))).astype(np.float32)
    sgn = rng.choice([-1.0, 1.0], n).astype(np.float32)
    lo[0], hi[0] = -np.inf, np.inf
    return np.stack([lo, hi, sgn]).astype(np.float32)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("float_in", (False, True), ids=("ternary_in", "float_in"))
@pytest.mark.parametrize("op", ("conv2d", "depthwise", "fc"))
@pytest.mark.parametrize("cout", (5, 33, 40, 100))
def test_packed_output(kernel, float_in, op, cout):
    """Version-2 ops with `output` = "PACKED": the layer's output ternarized by
    a 5th input of thresholds, written in the compute packing, equals the
    oracle's ternarize(affine(...)) bit for bit (threads 1 and 2)."""
    rng = _rng("packed", op, cout, float_in)
    activation = "RELU" if cout % 2 else "NONE"
    if op == "fc":
        cin, batch = 45, 5
        wt = _trits(rng, (cout, cin))
        x = _exact_floats(rng, (batch, cin)) if float_in else _trits(rng, (batch, cin))
        scale, bias = _dyadic_affine(rng, cout)
        th = _output_thresholds(rng, cout)
        model = tb.fc_model(
            in_channels=cin,
            out_channels=cout,
            activation=activation,
            weights_packed=ref.pack_trits_file(wt),
            scale=scale,
            bias=bias,
            float_in=float_in,
            output_thresholds=th,
        )
        y = ref.affine(ref.fully_connected(x, wt), scale, bias, activation)
    else:
        h, w = 7, 9
        if op == "conv2d":
            cin, mult = 20, 1
            wt = _trits(rng, (cout, 3, 3, cin))
        else:
            cin, mult = cout, 1
            wt = _trits(rng, (3, 3, cout))
        x = (
            _exact_floats(rng, (2, h, w, cin))
            if float_in
            else _trits(rng, (2, h, w, cin))
        )
        scale, bias = _dyadic_affine(rng, cout)
        th = _output_thresholds(rng, cout)
        model = tb.conv_model(
            op,
            in_channels=cin,
            out_channels=cout,
            kernel=(3, 3),
            strides=(1, 1),
            padding="SAME",
            activation=activation,
            weights_packed=ref.pack_trits_file(wt),
            scale=scale,
            bias=bias,
            input_hw=(h, w),
            depth_multiplier=mult,
            float_in=float_in,
            output_thresholds=th,
        )
        acc = (
            ref.conv2d(x, wt, (1, 1), "SAME")
            if op == "conv2d"
            else ref.depthwise_conv2d(x, wt, mult, (1, 1), "SAME")
        )
        y = ref.affine(acc, scale, bias, activation)
    expected = ref.pack_activations(ref.ternarize(y, th))
    x_in = x if float_in else ref.pack_activations(x)
    for threads in (1, 2):
        interp = runtime.Interpreter(model, kernel=kernel, num_threads=threads)
        out = interp.predict(x_in)
        assert out.dtype == np.int32
        np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("kernel", [k for k in KERNELS if k != "reference"])
@pytest.mark.parametrize("op", ("conv2d", "fc"))
@pytest.mark.parametrize("activation", ("NONE", "RELU"))
def test_packed_output_integer_thresholds_match_the_float_epilogue(
    kernel, op, activation
):
    """The GEMM's packed output compares int32 accumulators with thresholds
    found by binary search over the exact float epilogue. With arbitrary
    (non-dyadic, negative, zero) scales and biases, and output thresholds
    placed exactly on attained outputs, it must equal the reference kernel,
    which computes y in float and compares it."""
    rng = _rng("intth", op, activation)
    cout = 37
    scale = rng.normal(0, 0.7, cout).astype(np.float32)
    scale[:3] = [0.0, -0.0, -1.3]
    bias = rng.normal(0, 2.0, cout).astype(np.float32)
    if op == "fc":
        cin = 90
        wt = _trits(rng, (cout, cin))
        x = _trits(rng, (64, cin))
        acc = ref.fully_connected(x, wt)
    else:
        cin = 20
        wt = _trits(rng, (cout, 3, 3, cin))
        x = _trits(rng, (2, 6, 5, cin))
        acc = ref.conv2d(x, wt, (1, 1), "SAME")
    y = (np.float32(1) * acc.astype(np.float32) * scale + bias).astype(np.float32)
    if activation == "RELU":
        y = np.where(y > 0, y, np.float32(0))
    flat = y.reshape(-1, cout)
    lo = flat[rng.integers(0, flat.shape[0], cout), np.arange(cout)]
    hi = flat[rng.integers(0, flat.shape[0], cout), np.arange(cout)]
    th = np.stack(
        [np.minimum(lo, hi), np.maximum(lo, hi), rng.choice([-1.0, 1.0], cout)]
    ).astype(np.float32)
    th[0, 5], th[1, 5] = th[1, 5], th[0, 5]  # lo > hi on one channel
    if op == "fc":
        model = tb.fc_model(
            in_channels=cin,
            out_channels=cout,
            activation=activation,
            weights_packed=ref.pack_trits_file(wt),
            scale=scale,
            bias=bias,
            output_thresholds=th,
        )
    else:
        model = tb.conv_model(
            "conv2d",
            in_channels=cin,
            out_channels=cout,
            kernel=(3, 3),
            strides=(1, 1),
            padding="SAME",
            activation=activation,
            weights_packed=ref.pack_trits_file(wt),
            scale=scale,
            bias=bias,
            input_hw=(6, 5),
            output_thresholds=th,
        )
    x_in = ref.pack_activations(x)
    expected = runtime.Interpreter(model, kernel="reference").predict(x_in)
    np.testing.assert_array_equal(
        runtime.Interpreter(model, kernel=kernel, num_threads=2).predict(x_in), expected
    )
    # And the reference kernel agrees with the oracle's float32 ternarize.
    np.testing.assert_array_equal(expected, ref.pack_activations(ref.ternarize(y, th)))


def test_version_1_options_cannot_ask_for_packed_output():
    rng = _rng("v1packed")
    wt = _trits(rng, (4, 8))
    scale, bias = _dyadic_affine(rng, 4)
    th = _output_thresholds(rng, 4)
    opts = {
        "version": 1,
        "in_channels": 8,
        "out_channels": 4,
        "activation": "NONE",
        "output": "PACKED",
    }
    model = tb.fc_model(
        in_channels=8,
        out_channels=4,
        activation="NONE",
        weights_packed=ref.pack_trits_file(wt),
        scale=scale,
        bias=bias,
        output_thresholds=th,
        options=opts,
    )
    with pytest.raises(ValueError, match="needs op format version >= 2"):
        runtime.Interpreter(model)


def test_library_exports_only_the_sttn_api():
    path = runtime.native_library_info()["path"]
    out = subprocess.run(
        ["nm", "-D", "--defined-only", path], capture_output=True, text=True
    )
    if out.returncode != 0:
        pytest.skip("nm is not available")
    names = [line.split()[-1] for line in out.stdout.splitlines() if line.strip()]
    assert names and all(n.startswith("sttn_") for n in names), names


def test_invalid_arguments():
    model, *_ = _small_conv_model()
    with pytest.raises(ValueError, match="`kernel`"):
        runtime.Interpreter(model, kernel="fast")
    with pytest.raises(ValueError, match="`num_threads`"):
        runtime.Interpreter(model, num_threads=0)
    interp = runtime.Interpreter(model)
    with pytest.raises(ValueError, match="expects int32"):
        interp.predict(np.zeros((1, 5, 5, 2), np.float32))
    with pytest.raises(ValueError, match=r"expects shape \(None, 5, 5, 4\)"):
        interp.predict(np.zeros((1, 5, 5, 3), np.int32))
    with pytest.raises(ValueError, match=r"expects shape"):
        interp.predict(np.zeros((5, 5, 4), np.int32))


# ---------------------------------------------------------------------------
# Bad models, in a subprocess: an exception with a clear message, never a crash.

_CHILD_PRELUDE = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    import numpy as np
    from tests import tflite_builder as tb, ternary_reference as ref
    from sttn_keras.export import runtime
    def attempt(make, run=None):
        try:
            interp = runtime.Interpreter(make())
            if run is not None:
                run(interp)
        except Exception as e:  # report type and message to the parent
            print("EXC", type(e).__name__, str(e).replace("\\n", " | "))
        else:
            print("OK")
""")


def _child(code: str, timeout: float = 120) -> list[str]:
    script = _CHILD_PRELUDE.format(repo=REPO) + textwrap.dedent(code)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    assert proc.returncode == 0, (
        f"child died with code {proc.returncode} (negative = signal)\n"
        f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-3000:]}"
    )
    return [line for line in proc.stdout.splitlines() if line.startswith(("EXC", "OK"))]


_MAKE_CONV = """
def conv(**over):
    cin, cout = over.pop("cin", 33), 4
    rng = np.random.default_rng(0)
    wt = rng.integers(-1, 2, (cout, 3, 3, cin)).astype(np.int8)
    packed = over.pop("packed", ref.pack_trits_file(wt))
    kw = dict(in_channels=cin, out_channels=cout, kernel=(3, 3), strides=(1, 1),
              padding="SAME", activation="NONE", weights_packed=packed,
              scale=np.ones(cout, np.float32), bias=np.zeros(cout, np.float32),
              input_hw=(5, 5), float_in=True)
    kw.update(over)
    return tb.conv_model("conv2d", **kw)
OPTS = dict(version=1, in_channels=33, out_channels=4, kernel_h=3, kernel_w=3,
            stride_h=1, stride_w=1, padding="SAME", activation="NONE")
"""


def test_bad_models_raise_clear_errors():
    lines = _child(
        _MAKE_CONV
        + """
attempt(lambda: conv(options=dict(OPTS, version=3)))
attempt(lambda: conv(options={k: v for k, v in OPTS.items() if k != "kernel_h"}))
attempt(lambda: conv(options=dict(OPTS, in_channels=32)))
attempt(lambda: conv(options=dict(OPTS, kernel_h="3")))
attempt(lambda: conv(options=dict(OPTS, padding="FULL")))
attempt(lambda: conv(options=dict(OPTS, stride_w=0)))
attempt(lambda: conv(options=dict(OPTS, extra=1)))
bad = ref.pack_trits_file(np.zeros(4 * 9 * 33, np.int8)); bad[5] = 0b10 << 4
attempt(lambda: conv(packed=bad))
attempt(lambda: conv(packed=ref.pack_trits_file(np.zeros(4 * 9 * 33 - 4, np.int8))))
attempt(lambda: conv(scale=np.ones(3, np.float32)))
attempt(lambda: conv(options=b"\\x00\\x01\\x02garbage"))
attempt(lambda: conv(), run=lambda i: i.predict(np.zeros((1, 5, 5, 32), np.float32)))
"""
    )
    expected = [
        "custom option `version` is 3",
        "custom option `kernel_h` is missing",
        "has 33 channels, but the options say in_channels = 32",
        "custom option `kernel_h` must be an int, received a string",
        'custom option `padding` must be "SAME" or "VALID", received "FULL"',
        "custom option `stride_w` must be in [1, 65536], received 0",
        "unknown custom option `extra`",
        "invalid trit code 0b10 at trit 22",
        "holds 296 bytes, expected ceil(1188 / 4) = 297",
        "input 2 (`scale`) must have length out_channels = 4, received 3",
        "custom options",
        "expects shape (None, 5, 5, 33), received (1, 5, 5, 32)",
    ]
    assert len(lines) == len(expected), lines
    for line, fragment in zip(lines, expected):
        assert line.startswith("EXC ValueError"), line
        assert fragment in line, (fragment, line)
    # Every model-level message names the op.
    assert all("SttnConv2DFloatIn" in line for line in lines[:-1]), lines


def test_bad_weight_encodings_raise_clear_errors():
    # n = 4 * 9 * 33 = 1188 trits: 238 base3 bytes, the last one holding 3 trits.
    lines = _child(
        _MAKE_CONV
        + """
t = np.random.default_rng(1).integers(-1, 2, 4 * 9 * 33).astype(np.int8)
good = ref.pack_trits_base3(t)
V2 = dict(OPTS, version=2, weight_encoding="base3")
attempt(lambda: conv(packed=good, options=V2))
bad = good.copy(); bad[17] = 243
attempt(lambda: conv(packed=bad, options=V2))
bad = good.copy(); bad[5] = 255
attempt(lambda: conv(packed=bad, options=V2))
attempt(lambda: conv(packed=good[:-1], options=V2))
attempt(lambda: conv(packed=np.append(good, 0).astype(np.uint8), options=V2))
attempt(lambda: conv(packed=ref.pack_trits_file(t), options=V2))
bad = good.copy(); bad[-1] = 27  # digit 3 set: past the 3 used trits
attempt(lambda: conv(packed=bad, options=V2))
attempt(lambda: conv(packed=good, options=dict(V2, weight_encoding="base4")))
attempt(lambda: conv(packed=good, options=dict(V2, weight_encoding=5)))
attempt(lambda: conv(packed=ref.pack_trits_file(t), options=dict(OPTS, weight_encoding="trit2")))
attempt(lambda: conv(packed=good, options=dict(V2, version=3)))
attempt(lambda: conv(packed=ref.pack_trits_file(t), options=dict(OPTS, version=0)))
"""
    )
    expected = [
        None,
        "invalid base3 byte 243 (> 242) at byte 17",
        "invalid base3 byte 255 (> 242) at byte 5",
        "holds 237 bytes, expected ceil(1188 / 5) = 238",
        "holds 239 bytes, expected ceil(1188 / 5) = 238",
        "holds 297 bytes, expected ceil(1188 / 5) = 238",
        "unused base3 digits of the last packed weight byte are not 0",
        'custom option `weight_encoding` must be "trit2" or "base3", received "base4"',
        "custom option `weight_encoding` must be a string, received a",
        "custom option `weight_encoding` needs op format version >= 2, but `version` is 1",
        "custom option `version` is 3, but these kernels implement op format versions 1 to 2",
        "custom option `version` is 0",
    ]
    assert len(lines) == len(expected), lines
    assert lines[0] == "OK", lines[0]
    for line, fragment in zip(lines[1:], expected[1:]):
        assert line.startswith("EXC ValueError"), line
        assert fragment in line and "SttnConv2DFloatIn" in line, (fragment, line)


def test_weights_byte_count_mismatch_is_reported():
    lines = _child(
        _MAKE_CONV
        + """
attempt(lambda: conv(packed=ref.pack_trits_file(np.zeros(4 * 9 * 33 + 8, np.int8))))
"""
    )
    assert lines[0].startswith("EXC ValueError") and "holds 299 bytes" in lines[0], (
        lines
    )


def test_truncated_and_corrupt_files():
    lines = _child(
        _MAKE_CONV
        + """
import random
m = conv()
for cut in (0, 7, 8, 40, len(m) // 3, len(m) // 2, len(m) - 64, len(m) - 100):
    attempt(lambda: m[:cut])
rnd = random.Random(0)
for _ in range(40):
    b = bytearray(m)
    for _ in range(8):
        b[rnd.randrange(8, len(b))] = rnd.randrange(256)
    attempt(lambda: bytes(b), run=lambda i: i.predict(np.zeros((1, 5, 5, 33), np.float32)))
""",
        timeout=300,
    )
    assert len(lines) == 48
    for line in lines[:8]:
        assert (
            line.startswith("EXC ValueError")
            and "Could not load the TFLite model" in line
        ), line
    # Random corruption: either still a valid model or a Python exception.
    assert all(line == "OK" or line.startswith("EXC ") for line in lines[8:])


def test_fuzzed_custom_options_never_crash():
    lines = _child(
        _MAKE_CONV
        + """
import random
opts = tb.flexbuffer_map(OPTS)
rnd = random.Random(1)
for trial in range(150):
    b = bytearray(opts)
    for _ in range(1 + trial % 4):
        b[rnd.randrange(len(b))] = rnd.randrange(256)
    if trial % 10 == 0:
        b = b[: rnd.randrange(len(b))]
    attempt(lambda: conv(options=bytes(b)))
""",
        timeout=300,
    )
    assert len(lines) == 150
    assert all(line == "OK" or line.startswith("EXC ValueError") for line in lines)
    assert sum(line.startswith("EXC") for line in lines) > 50


def test_non_constant_weights_are_rejected():
    lines = _child("""
b = tb.ModelBuilder()
x = b.input("x", [-1, 8], np.float32)
w = b.input("w", [2], np.uint8)
s = b.const("s", np.ones(2, np.float32)); bi = b.const("b", np.zeros(2, np.float32))
y = b.output("y", [-1, 2], np.float32)
b.op("SttnFullyConnectedFloatIn", [x, w, s, bi], [y],
     dict(version=1, in_channels=8, out_channels=2, activation="NONE"))
attempt(lambda: b.build())
""")
    assert lines[0].startswith("EXC ValueError"), lines
    assert "input 1 (`weights`) must be a constant tensor" in lines[0], lines


def test_stock_interpreter_refuses_sttn_ops():
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {REPO!r})
        from tests.test_kernels import _small_conv_model
        from ai_edge_litert.interpreter import Interpreter
        model, *_ = _small_conv_model()
        try:
            Interpreter(model_content=model).allocate_tensors()
        except Exception as e:
            print("EXC", type(e).__name__, str(e).replace("\\n", " | "))
        else:
            print("OK")
    """),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("EXC"), proc.stdout
    assert "SttnConv2D" in proc.stdout


# ---------------------------------------------------------------------------
# Deployment without TensorFlow / Keras: tests/test_litert_versions.py runs the
# installed layout of the package in fresh venvs holding only numpy and one
# ai-edge-litert release each (the oldest and the newest of the supported
# range), with spot checks of this grid.
