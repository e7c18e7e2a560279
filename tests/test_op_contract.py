"""The op contract has one Python home (``export/op_format.py``); the copies
that must remain elsewhere are tied to it here.

* The native library's op names (``op_data.h``) and format versions
  (``sttn_ops.h``).
* The exporter's TensorFlow packing (``tf_ops.py``, the export graph's
  reference math) against the NumPy oracle (``tests/ternary_reference.py``)
  and the weight encoder (``packing.py``).

The Android app registers what the library lists (``sttn_tflite_op_name``),
so it holds no copy.
"""

import os
import re

import numpy as np
import pytest

from sttn_keras.export import op_format, packing, runtime
from tests import ternary_reference as ref

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _read(*parts):
    with open(os.path.join(ROOT, *parts), encoding="utf-8") as f:
        return f.read()


def test_native_library_registers_exactly_the_format_ops_in_order():
    # Order matters too: the native profile counters are indexed by it.
    assert runtime.registered_ops() == op_format.ALL_OPS


def test_native_library_reports_the_format_version():
    assert (
        runtime.native_library_info()["op_format_version"]
        == op_format.OP_FORMAT_VERSION
    )


def test_native_header_versions_match_op_format():
    header = _read("export", "tflite", "sttn_ops.h")
    newest = re.search(r"constexpr int kOpFormatVersion = (\d+);", header)
    oldest = re.search(r"constexpr int kOldestOpFormatVersion = (\d+);", header)
    assert newest and oldest, "sttn_ops.h no longer declares the format versions"
    assert int(newest.group(1)) == op_format.OP_FORMAT_VERSION
    assert int(oldest.group(1)) == op_format.OLDEST_OP_FORMAT_VERSION


def test_op_name_for_covers_every_layer_op():
    kinds = {kind for kind, _ in op_format.OP_FOR_LAYER}
    names = {op_format.op_name_for(k, f) for k in kinds for f in (False, True)}
    assert names | {op_format.TERNARIZE} == set(op_format.ALL_OPS)
    with pytest.raises(ValueError, match="invalid layer kind 'pool'"):
        op_format.op_name_for("pool", False)


@pytest.mark.parametrize("channels", [1, 31, 32, 33, 70])
def test_tf_activation_packing_matches_the_oracle(channels):
    tf_ops = pytest.importorskip("sttn_keras.export.tf_ops")
    rng = np.random.default_rng(channels)
    trits = rng.integers(-1, 2, size=(3, 2, channels)).astype(np.int32)
    words = tf_ops._pack(trits, channels).numpy()
    np.testing.assert_array_equal(words, ref.pack_activations(trits))
    back = tf_ops._unpack(words, channels).numpy()
    np.testing.assert_array_equal(back, trits.astype(np.float32))


@pytest.mark.parametrize("encoding", op_format.WEIGHT_ENCODINGS)
@pytest.mark.parametrize("n", [1, 4, 5, 9, 101])
def test_weight_encodings_agree_across_numpy_tf_and_the_oracle(encoding, n):
    tf_ops = pytest.importorskip("sttn_keras.export.tf_ops")
    trits = np.random.default_rng(n).integers(-1, 2, size=n).astype(np.int8)
    packed = packing.encode_weights(trits, encoding)
    oracle = (
        ref.pack_trits_base3 if encoding == op_format.BASE3 else ref.pack_trits_file
    )
    np.testing.assert_array_equal(packed, oracle(trits))
    np.testing.assert_array_equal(packing.decode_weights(packed, n, encoding), trits)
    decoded = tf_ops._unpack_weights(packed, n, encoding).numpy()
    np.testing.assert_array_equal(decoded, trits.astype(np.float32))
    assert packing.weight_bytes(n, encoding) == packed.size
