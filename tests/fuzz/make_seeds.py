"""Writes the committed seed corpora of ``tests/fuzz/corpus/`` (run once;
``python -m tests.fuzz.make_seeds``; needs TensorFlow for the exports).

* ``models/``: ``.tflite`` files for the whole-model mutator: one-op models
  of every sttn op (tests/tflite_builder.py) in both weight encodings, float
  and packed outputs, plus models exported by ``sttn.export.to_tflite`` from
  small Keras models: every ternary layer kind, a float-input first layer,
  bit-packed chains (conv -> depthwise -> conv, with a PAD on the packed
  tensor), in trit2 and base3.
* ``op_fuzzer/``: the op target's inputs (op index, kernel type, options,
  driver bytes) for every op, encoding and output kind.
* ``flexbuffer_map_fuzzer/``: the custom options of every op in the models.
* ``weight_decoder_fuzzer/``, ``packed_output_fuzzer/``: a few inputs each.

Deterministic (fixed seeds), small (a few KB per file).
"""

from __future__ import annotations

import hashlib
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from sttn_keras.export.op_format import ALL_OPS  # noqa: E402
from tests import tflite_builder as tb  # noqa: E402

CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")
# The op order of sttn_tflite_op_name (OpKind, export/tflite/op_data.h):
# op_format.ALL_OPS, which tests/test_op_contract.py ties to the library.
OP_NAMES = ALL_OPS


def _write(folder: str, data: bytes, name: str | None = None) -> None:
    path = os.path.join(CORPUS, folder)
    os.makedirs(path, exist_ok=True)
    name = name or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(path, name), "wb") as f:
        f.write(data)


def _trits(rng, n):
    return rng.integers(-1, 2, n).astype(np.int8)


def _pack(trits, encoding):
    from sttn_keras.export import packing

    if encoding == "base3":
        return np.asarray(packing.pack_weights_base3(trits), np.uint8)
    return np.asarray(packing.pack_weights(trits), np.uint8)


def _thresholds(rng, c):
    lo = -rng.uniform(0, 2, c)
    hi = rng.uniform(0, 2, c)
    sgn = rng.choice([-1.0, 1.0], c)
    return np.stack([lo, hi, sgn]).astype(np.float32)


def one_op_models() -> list[tuple[str, bytes]]:
    """(name, model bytes) of one-op models of every op, encoding and output."""
    rng = np.random.default_rng(0)
    out = []
    for c, rank in ((40, 2), (5, 4), (64, 4)):
        out.append(
            (
                f"ternarize_c{c}_r{rank}",
                tb.ternarize_model(c, _thresholds(rng, c), rank),
            )
        )
    for kind in ("conv2d", "depthwise"):
        for float_in in (False, True):
            for encoding in ("trit2", "base3"):
                for packed in (False, True):
                    cin, mult = (6, 2) if kind == "depthwise" else (37, 1)
                    cout = cin * mult if kind == "depthwise" else 9
                    k = (3, 2)
                    n = k[0] * k[1] * (cout if kind == "depthwise" else cout * cin)
                    name = f"{kind}{'_floatin' if float_in else ''}_{encoding}" + (
                        "_packed" if packed else ""
                    )
                    out.append(
                        (
                            name,
                            tb.conv_model(
                                kind,
                                in_channels=cin,
                                out_channels=cout,
                                kernel=k,
                                strides=(2, 1),
                                padding="SAME" if packed else "VALID",
                                activation="RELU" if float_in else "NONE",
                                weights_packed=_pack(_trits(rng, n), encoding),
                                scale=rng.uniform(0.1, 1, cout),
                                bias=rng.normal(0, 1, cout),
                                input_hw=(5, 4),
                                depth_multiplier=mult,
                                float_in=float_in,
                                output_thresholds=_thresholds(rng, cout)
                                if packed
                                else None,
                                weight_encoding=encoding,
                            ),
                        )
                    )
    for float_in in (False, True):
        for encoding in ("trit2", "base3"):
            for packed in (False, True):
                cin, cout = 70, 33
                name = f"fc{'_floatin' if float_in else ''}_{encoding}" + (
                    "_packed" if packed else ""
                )
                out.append(
                    (
                        name,
                        tb.fc_model(
                            in_channels=cin,
                            out_channels=cout,
                            activation="RELU" if packed else "NONE",
                            weights_packed=_pack(_trits(rng, cin * cout), encoding),
                            scale=rng.uniform(0.1, 1, cout),
                            bias=rng.normal(0, 1, cout),
                            float_in=float_in,
                            lead_shape=(-1, 2) if packed else (-1,),
                            output_thresholds=_thresholds(rng, cout)
                            if packed
                            else None,
                            weight_encoding=encoding,
                        ),
                    )
                )
    return out


def table_models() -> list[tuple[str, bytes]]:
    """One-op models wide enough for the GEMM's table method on AVX2 and NEON
    (docs/kernels.md): a 1x1 conv with quad tables (24 -> 100, packed
    output) and a dense layer with pair tables (64 -> 200, float output).
    Seeded separately, so the seeds of the other models stay as they were."""
    rng = np.random.default_rng(5)
    cin, cout = 24, 100
    conv = tb.conv_model(
        "conv2d",
        in_channels=cin,
        out_channels=cout,
        kernel=(1, 1),
        strides=(1, 1),
        padding="SAME",
        activation="NONE",
        weights_packed=_pack(_trits(rng, cin * cout), "base3"),
        scale=rng.uniform(0.1, 1, cout),
        bias=rng.normal(0, 1, cout),
        input_hw=(5, 4),
        float_in=False,
        output_thresholds=_thresholds(rng, cout),
        weight_encoding="base3",
    )
    cin, cout = 64, 200
    fc = tb.fc_model(
        in_channels=cin,
        out_channels=cout,
        activation="RELU",
        weights_packed=_pack(_trits(rng, cin * cout), "trit2"),
        scale=rng.uniform(0.1, 1, cout),
        bias=rng.normal(0, 1, cout),
        float_in=False,
        lead_shape=(-1,),
        output_thresholds=None,
        weight_encoding="trit2",
    )
    return [("conv2d_1x1_table_packed", conv), ("fc_table_pairs", fc)]


def exported_models() -> list[tuple[str, bytes]]:
    """Models exported by sttn.export.to_tflite: every layer kind, packed
    chains, both encodings (float32 float layers: small files)."""
    import keras

    import sttn_keras as sttn
    from sttn_keras import layers as sl

    def bn_stats(model, seed):
        rng = np.random.default_rng(seed)
        for layer in model.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                c = layer.gamma.shape[0]
                layer.set_weights(
                    [
                        rng.uniform(0.5, 2, c) * rng.choice([-1, 1], c),
                        rng.normal(0.3, 0.5, c),
                        rng.normal(0, 0.5, c),
                        rng.uniform(0.5, 2, c),
                    ]
                )

    def every_layer():
        keras.utils.set_random_seed(1)
        inputs = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
        x = keras.layers.BatchNormalization()(x)
        x = sl.TernaryConv2D(
            12, 3, input_quantizer=None, kernel_quantizer="twn", name="t_float_in"
        )(x)
        x = keras.layers.BatchNormalization()(x)
        x = sl.TernaryConv2D(16, 3, strides=2, padding="same", activation="relu")(x)
        x = keras.layers.BatchNormalization()(x)
        x = sl.TernaryDepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Flatten()(x)
        x = sl.TernaryDense(24)(x)
        x = keras.layers.BatchNormalization()(x)
        outputs = keras.layers.Dense(4)(x)
        model = keras.Model(inputs, outputs)
        bn_stats(model, 1)
        return model

    def packed_chain():
        keras.utils.set_random_seed(2)
        inputs = keras.Input((9, 9, 16))
        x = keras.layers.BatchNormalization()(inputs)
        y = sl.TernaryConv2D(40, 1, use_bias=False)(x)
        y = keras.layers.BatchNormalization()(y)
        y = keras.layers.ReLU(6.0)(y)
        y = keras.layers.ZeroPadding2D(((0, 1), (0, 1)))(y)
        y = sl.TernaryDepthwiseConv2D(3, strides=2, use_bias=False)(y)
        y = keras.layers.BatchNormalization()(y)
        y = keras.layers.ReLU(6.0)(y)
        y = sl.TernaryConv2D(16, 1, use_bias=False)(y)
        y = keras.layers.BatchNormalization()(y)
        x = keras.layers.GlobalAveragePooling2D()(y)
        outputs = keras.layers.Dense(3)(x)
        model = keras.Model(inputs, outputs)
        bn_stats(model, 2)
        return model

    out = []
    for name, build in (("every_layer", every_layer), ("packed_chain", packed_chain)):
        model = build()
        for encoding in ("trit2", "base3"):
            data = sttn.export.to_tflite(
                model, weight_encoding=encoding, float_layers="float32"
            )
            out.append((f"exported_{name}_{encoding}", data))
    return out


def op_inputs(models: list[tuple[str, bytes]], seed: int = 3) -> list[bytes]:
    """Inputs of op_fuzzer: the options of every sttn op in ``models``."""
    from ai_edge_litert import schema_py_generated as schema

    rng = np.random.default_rng(seed)
    found = []
    for _, data in models:
        model = schema.ModelT.InitFromPackedBuf(data, 0)
        for op in model.subgraphs[0].operators:
            code = model.operatorCodes[op.opcodeIndex].customCode
            code = code.decode() if isinstance(code, bytes) else code
            if code not in OP_NAMES or op.customOptions is None:
                continue
            options = bytes(bytearray(op.customOptions))
            for kernel in (1, 0):
                header = bytes([OP_NAMES.index(code), kernel])
                header += len(options).to_bytes(2, "little")
                found.append(header + options + rng.bytes(48))
    return found


def main() -> None:
    models = one_op_models() + exported_models()
    for name, data in models:
        _write("models", data, name + ".tflite")
    options = set()
    for entry in op_inputs(models):
        _write("op_fuzzer", entry)
        options.add(entry[4 : 4 + int.from_bytes(entry[2:4], "little")])
    tables = table_models()
    for name, data in tables:
        _write("models", data, name + ".tflite")
    for entry in op_inputs(tables, seed=6):
        _write("op_fuzzer", entry)
    for data in sorted(options):
        _write("flexbuffer_map_fuzzer", data)
    rng = np.random.default_rng(4)
    for encoding in ("trit2", "base3"):
        for n in (1, 5, 33, 200):
            trits = _trits(rng, n)
            packed = _pack(trits, encoding).tobytes()
            per = 5 if encoding == "base3" else 4
            shift = len(packed) * per - n
            _write(
                "weight_decoder_fuzzer",
                bytes([1 if encoding == "base3" else 0, shift, 0]) + packed,
            )
    for _ in range(8):
        _write("packed_output_fuzzer", rng.bytes(int(rng.integers(16, 400))))


if __name__ == "__main__":
    main()
