"""Trit packing in numpy (no TensorFlow): the layouts of docs/op-format.md.

* File packing (weights): 4 trits per byte, trit ``i`` at bits
  ``2*(i%4)..2*(i%4)+1`` of byte ``i//4``; codes 0b00 = 0, 0b01 = +1,
  0b11 = -1.
* Compute packing (activations): per 32 channels a pair of 32-bit words
  ``(mask, sign)``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "pack_weights",
    "unpack_weights",
    "pack_activations",
    "unpack_activations",
    "packed_width",
]

_CODE = {0: 0b00, 1: 0b01, -1: 0b11}


def _check_trits(trits, what):
    trits = np.asarray(trits)
    if not np.issubdtype(trits.dtype, np.integer):
        raise ValueError(f"{what} must be integers in {{-1, 0, 1}}. Received dtype={trits.dtype}")
    bad = (trits < -1) | (trits > 1)
    if bad.any():
        raise ValueError(
            f"{what} must hold only -1, 0 or 1. Received: {trits[bad][:5].tolist()} ..."
        )
    return trits.astype(np.int8)


def pack_weights(trits):
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
    return (quads[:, 0] | (quads[:, 1] << 2) | (quads[:, 2] << 4) | (quads[:, 3] << 6)).astype(np.uint8)


def unpack_weights(packed, n):
    """Inverse of :func:`pack_weights` for the first ``n`` trits.

    Raises:
        ValueError: If the buffer is too short or holds the invalid code 0b10.

    Example:

    >>> unpack_weights(np.array([77, 3], np.uint8), 5).tolist()
    [1, -1, 0, 1, -1]
    """
    packed = np.asarray(packed, np.uint8).reshape(-1)
    if packed.size < (n + 3) // 4:
        raise ValueError(f"Packed weights hold {packed.size} bytes; {n} trits need {(n + 3) // 4}.")
    codes = np.stack([(packed >> s) & 0b11 for s in (0, 2, 4, 6)], axis=1).reshape(-1)[:n]
    if (codes == 0b10).any():
        raise ValueError("Packed weights contain the invalid trit code 0b10.")
    return np.where(codes == 0b01, 1, np.where(codes == 0b11, -1, 0)).astype(np.int8)


def packed_width(channels):
    """Number of int32 words per pixel for ``channels`` packed trits."""
    return 2 * ((int(channels) + 31) // 32)


def pack_activations(trits):
    """Packs trits along the last axis into (mask, sign) int32 word pairs.

    Example:

    >>> pack_activations(np.array([[1, -1, 0]])).tolist()
    [[3, 2]]
    """
    trits = _check_trits(trits, "Activations")
    *lead, c = trits.shape
    blocks = (c + 31) // 32
    padded = np.zeros((*lead, blocks * 32), np.int8)
    padded[..., :c] = trits
    padded = padded.reshape(*lead, blocks, 32)
    weights = (np.uint64(1) << np.arange(32, dtype=np.uint64))
    mask = ((padded != 0).astype(np.uint64) * weights).sum(-1)
    sign = ((padded < 0).astype(np.uint64) * weights).sum(-1)
    words = np.stack([mask, sign], axis=-1).astype(np.uint32).view(np.int32)
    return words.reshape(*lead, 2 * blocks)


def unpack_activations(packed, channels):
    """Inverse of :func:`pack_activations`."""
    packed = np.asarray(packed, np.int32)
    *lead, w = packed.shape
    words = packed.view(np.uint32).reshape(*lead, w // 2, 2)
    bits = np.arange(32, dtype=np.uint32)
    mask = (words[..., 0:1] >> bits) & 1
    sign = (words[..., 1:2] >> bits) & 1
    trits = mask.astype(np.int8) * (1 - 2 * sign.astype(np.int8))
    return trits.reshape(*lead, -1)[..., :channels]
