"""Trit packing in numpy (no TensorFlow): the layouts of docs/op-format.md.

* File packing of weights, encoding ``"trit2"``: 4 trits per byte, trit
  ``i`` at bits ``2*(i%4)..2*(i%4)+1`` of byte ``i//4``; codes 0b00 = 0,
  0b01 = +1, 0b11 = -1.
* File packing of weights, encoding ``"base3"`` (op format version 2): 5
  trits per byte, byte ``b = d0 + 3 d1 + 9 d2 + 27 d3 + 81 d4`` for trits
  ``5b..5b+4`` with digit 0 = 0, 1 = +1, 2 = -1; bytes > 242 are invalid.

The compute packing of activations (per 32 channels a pair of 32-bit words
``(mask, sign)``) is written by the kernels and, for the export model's
TensorFlow graph, by :mod:`.tf_ops`; ``tests/ternary_reference.py`` is the
independent NumPy oracle of both packings and tests tie the copies together.
"""

from __future__ import annotations

import numpy as np

from .op_format import BASE3, TRIT2, WEIGHT_ENCODINGS

__all__ = [
    "pack_weights",
    "unpack_weights",
    "pack_weights_base3",
    "unpack_weights_base3",
    "encode_weights",
    "decode_weights",
    "weight_bytes",
]

_CODE = {0: 0b00, 1: 0b01, -1: 0b11}


def _check_trits(trits, what):
    trits = np.asarray(trits)
    if not np.issubdtype(trits.dtype, np.integer):
        raise ValueError(
            f"{what} must be integers in {{-1, 0, 1}}. Received dtype={trits.dtype}"
        )
    bad = (trits < -1) | (trits > 1)
    if bad.any():
        raise ValueError(
            f"{what} must hold only -1, 0 or 1. Received: {trits[bad][:5].tolist()} ..."
        )
    return trits.astype(np.int8)


def pack_weights(trits: np.ndarray) -> np.ndarray:
    """Packs trits (any shape, row-major) into the 2-bit file format.

    Args:
        trits: Integer array with values in {-1, 0, +1}.

    Returns:
        ``uint8`` array of ``ceil(trits.size / 4)`` bytes.

    Example:

    >>> pack_weights(np.array([1, -1, 0, 1, -1])).tolist()
    [77, 3]
    """
    flat = _check_trits(trits, "Weights").reshape(-1)
    n = flat.size
    codes = np.where(flat == 1, 0b01, np.where(flat == -1, 0b11, 0b00)).astype(np.uint8)
    padded = np.zeros(((n + 3) // 4) * 4, np.uint8)
    padded[:n] = codes
    quads = padded.reshape(-1, 4)
    return (
        quads[:, 0] | (quads[:, 1] << 2) | (quads[:, 2] << 4) | (quads[:, 3] << 6)
    ).astype(np.uint8)


def unpack_weights(packed: np.ndarray | bytes, n: int) -> np.ndarray:
    """Inverse of :func:`pack_weights` for the first ``n`` trits.

    Raises:
        ValueError: If the buffer is too short or holds the invalid code 0b10.

    Example:

    >>> unpack_weights(np.array([77, 3], np.uint8), 5).tolist()
    [1, -1, 0, 1, -1]
    """
    packed = np.asarray(packed, np.uint8).reshape(-1)
    if packed.size < (n + 3) // 4:
        raise ValueError(
            f"Packed weights hold {packed.size} bytes; {n} trits need {(n + 3) // 4}."
        )
    codes = np.stack([(packed >> s) & 0b11 for s in (0, 2, 4, 6)], axis=1).reshape(-1)[
        :n
    ]
    if (codes == 0b10).any():
        raise ValueError("Packed weights contain the invalid trit code 0b10.")
    return np.where(codes == 0b01, 1, np.where(codes == 0b11, -1, 0)).astype(np.int8)


_POW3 = np.array([1, 3, 9, 27, 81], np.int32)
_DIGIT_OF_TRIT = np.array(
    [2, 0, 1], np.int32
)  # index trit + 1: -1 -> 2, 0 -> 0, +1 -> 1
_TRIT_OF_DIGIT = np.array([0, 1, -1], np.int8)


def pack_weights_base3(trits: np.ndarray) -> np.ndarray:
    """Packs trits (any shape, row-major) into the base-3 file format.

    Five trits per byte: trits ``5b..5b+4`` are the base-3 digits
    ``d0..d4`` (least significant first) of byte ``b``, digit 0 = 0,
    1 = +1, 2 = -1; the missing trits of the last group are 0. 1.6 bits per
    trit.

    Args:
        trits: Integer array with values in {-1, 0, +1}.

    Returns:
        ``uint8`` array of ``ceil(trits.size / 5)`` bytes, each <= 242.

    Example:

    >>> pack_weights_base3(np.array([1, -1, 0, 1, -1, 1])).tolist()
    [196, 1]
    """
    flat = _check_trits(trits, "Weights").reshape(-1)
    n = flat.size
    digits = np.zeros(((n + 4) // 5) * 5, np.int32)
    digits[:n] = _DIGIT_OF_TRIT[flat.astype(np.int32) + 1]
    return (digits.reshape(-1, 5) @ _POW3).astype(np.uint8)


def unpack_weights_base3(packed: np.ndarray | bytes, n: int) -> np.ndarray:
    """Inverse of :func:`pack_weights_base3` for ``n`` trits; validates like
    the kernels do.

    Raises:
        ValueError: If the buffer does not hold exactly ``ceil(n / 5)`` bytes,
            holds a byte > 242, or nonzero digits past trit ``n - 1``.

    Example:

    >>> unpack_weights_base3(np.array([196, 1], np.uint8), 6).tolist()
    [1, -1, 0, 1, -1, 1]
    """
    packed = np.asarray(packed, np.uint8).reshape(-1)
    if packed.size != (n + 4) // 5:
        raise ValueError(
            f"Base-3 packed weights hold {packed.size} bytes; {n} trits need "
            f"ceil({n} / 5) = {(n + 4) // 5}."
        )
    bad = packed > 242
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"Base-3 packed weights hold the invalid byte {int(packed[i])} "
            f"(> 242) at byte {i}."
        )
    digits = (packed.astype(np.int32)[:, None] // _POW3) % 3
    digits = digits.reshape(-1)
    if (digits[n:] != 0).any():
        raise ValueError(
            "Unused base-3 digits of the last packed weight byte are not 0."
        )
    return _TRIT_OF_DIGIT[digits[:n]]


def check_encoding(encoding: str) -> None:
    """Raises ``ValueError`` unless ``encoding`` is a weight encoding."""
    if encoding not in WEIGHT_ENCODINGS:
        raise ValueError(
            "Received an invalid value for `weight_encoding`, expected one of "
            f"{WEIGHT_ENCODINGS}. Received: weight_encoding={encoding!r}"
        )


def encode_weights(trits: np.ndarray, encoding: str = TRIT2) -> np.ndarray:
    """Packs trits in ``encoding`` (``"trit2"`` or ``"base3"``).

    Example:

    >>> encode_weights(np.zeros(10, np.int8), "base3").size
    2
    """
    check_encoding(encoding)
    return pack_weights_base3(trits) if encoding == BASE3 else pack_weights(trits)


def decode_weights(
    packed: np.ndarray | bytes, n: int, encoding: str = TRIT2
) -> np.ndarray:
    """Unpacks ``n`` trits in ``encoding``; inverse of :func:`encode_weights`.

    Example:

    >>> packed = encode_weights(np.array([1, 0, -1], np.int8), "base3")
    >>> decode_weights(packed, 3, "base3").tolist()
    [1, 0, -1]
    """
    check_encoding(encoding)
    return (
        unpack_weights_base3(packed, n)
        if encoding == BASE3
        else unpack_weights(packed, n)
    )


def weight_bytes(n: int, encoding: str = TRIT2) -> int:
    """Bytes of ``n`` packed trits: ``ceil(n / 4)`` (trit2) or ``ceil(n / 5)``
    (base3).

    Example:

    >>> weight_bytes(1000, "trit2"), weight_bytes(1000, "base3")
    (250, 200)
    """
    check_encoding(encoding)
    return (int(n) + 4) // 5 if encoding == BASE3 else (int(n) + 3) // 4
