"""NumPy reference of the sttn custom-op format (docs/op-format.md).

Independent of the C++ kernels: the oracle for the kernel tests and the
exporter's packing tests. Everything here is plain NumPy.

Example:

>>> import numpy as np
>>> t = np.array([1, 0, -1, 1, -1], dtype=np.int8)
>>> pack_trits_file(t)
array([113,   3], dtype=uint8)
>>> unpack_trits_file(pack_trits_file(t), 5)
array([ 1,  0, -1,  1, -1], dtype=int8)
"""

from __future__ import annotations

import numpy as np

_CODE_OF_TRIT = {0: 0b00, 1: 0b01, -1: 0b11}


def _as_trits(trits: np.ndarray) -> np.ndarray:
    t = np.asarray(trits)
    if t.size and not np.isin(t, (-1, 0, 1)).all():
        raise ValueError("Received values that are not trits (-1, 0, +1).")
    return t.astype(np.int8)


def pack_trits_file(trits: np.ndarray) -> np.ndarray:
    """Packs trits (any shape, row-major) into the 2-bit file packing.

    Trit ``i`` sits in bits ``2*(i % 4)`` and ``2*(i % 4) + 1`` of byte
    ``i // 4``; codes ``0b00`` = 0, ``0b01`` = +1, ``0b11`` = -1; unused bits
    of the last byte are 0.

    Args:
        trits: array of -1, 0, +1.

    Returns:
        ``uint8`` array of ``ceil(n / 4)`` bytes.
    """
    t = _as_trits(trits).reshape(-1)
    n = t.size
    codes = np.where(t == 1, 1, np.where(t == -1, 3, 0)).astype(np.uint8)
    padded = np.zeros(((n + 3) // 4) * 4, dtype=np.uint8)
    padded[:n] = codes
    quads = padded.reshape(-1, 4)
    return (
        quads[:, 0] | (quads[:, 1] << 2) | (quads[:, 2] << 4) | (quads[:, 3] << 6)
    ).astype(np.uint8)


def pack_trits_base3(trits: np.ndarray) -> np.ndarray:
    """Packs trits into the base-3 file packing (op format v2, "base3").

    Byte ``b`` is ``sum_i d_i * 3**i`` over trits ``5b + i`` (i = 0..4),
    digit ``d`` = 0 for 0, 1 for +1, 2 for -1; missing trits are 0. Written
    independently of ``sttn_keras.export.packing`` (plain loops).
    """
    t = _as_trits(trits).reshape(-1).tolist()
    digit = {0: 0, 1: 1, -1: 2}
    out = []
    for start in range(0, len(t), 5):
        group = t[start : start + 5]
        out.append(sum(digit[v] * 3**i for i, v in enumerate(group)))
    return np.array(out, dtype=np.uint8)


def unpack_trits_file(buf: np.ndarray | bytes, n: int) -> np.ndarray:
    """Inverse of :func:`pack_trits_file`; validates like the kernels do.

    Args:
        buf: the packed bytes.
        n: number of trits.

    Returns:
        ``int8`` array of ``n`` trits.

    Raises:
        ValueError: wrong byte count, the invalid code ``0b10``, or nonzero
            unused bits in the last byte.
    """
    b = (
        np.frombuffer(bytes(buf), dtype=np.uint8)
        if isinstance(buf, bytes)
        else (np.asarray(buf, dtype=np.uint8).reshape(-1))
    )
    if b.size != (n + 3) // 4:
        raise ValueError(
            f"Expected ceil({n} / 4) = {(n + 3) // 4} bytes, received {b.size}."
        )
    codes = np.stack([(b >> (2 * k)) & 3 for k in range(4)], axis=1).reshape(-1)
    if (codes[:n] == 0b10).any():
        i = int(np.argmax(codes[:n] == 0b10))
        raise ValueError(f"Invalid trit code 0b10 at trit {i}.")
    if (codes[n:] != 0).any():
        raise ValueError("Unused bits of the last byte are not 0.")
    out = np.zeros(n, dtype=np.int8)
    out[codes[:n] == 1] = 1
    out[codes[:n] == 3] = -1
    return out


def packed_width(channels: int) -> int:
    """Int32 words of the compute packing of ``channels`` channels."""
    return 2 * ((channels + 31) // 32)


def pack_activations(trits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Packs trits along ``axis`` into the compute packing (canonical form).

    Channels go in blocks of 32; block ``b`` is the int32 pair
    ``(mask, sign)`` at positions ``2b, 2b + 1``; channel ``32 b + j`` is bit
    ``j``.

    Args:
        trits: array of -1, 0, +1 with channels along ``axis``.
        axis: the channel axis.

    Returns:
        ``int32`` array with ``axis`` of length ``2 * ceil(C / 32)``.
    """
    t = np.moveaxis(_as_trits(trits), axis, -1)
    c = t.shape[-1]
    blocks = (c + 31) // 32
    padded = np.zeros(t.shape[:-1] + (blocks * 32,), dtype=np.int8)
    padded[..., :c] = t
    padded = padded.reshape(t.shape[:-1] + (blocks, 32))
    weights = np.uint64(1) << np.arange(32, dtype=np.uint64)
    mask = ((padded != 0).astype(np.uint64) * weights).sum(-1)
    sign = ((padded < 0).astype(np.uint64) * weights).sum(-1)
    out = np.stack([mask, sign], axis=-1).reshape(t.shape[:-1] + (2 * blocks,))
    out = out.astype(np.uint32).view(np.int32)
    return np.moveaxis(out, -1, axis)


def unpack_activations(packed: np.ndarray, channels: int, axis: int = -1) -> np.ndarray:
    """Inverse of :func:`pack_activations` (sign bits under a zero mask read 0)."""
    p = np.moveaxis(np.asarray(packed, dtype=np.int32), axis, -1).view(np.uint32)
    if p.shape[-1] != packed_width(channels):
        raise ValueError(
            f"Expected {packed_width(channels)} packed words for {channels} "
            f"channels, received {p.shape[-1]}."
        )
    mask, sign = p[..., 0::2], p[..., 1::2]
    bits = np.arange(32, dtype=np.uint32)
    m = ((mask[..., None] >> bits) & 1).reshape(p.shape[:-1] + (-1,))[..., :channels]
    s = ((sign[..., None] >> bits) & 1).reshape(p.shape[:-1] + (-1,))[..., :channels]
    out = np.where(m == 1, np.where(s == 1, -1, 1), 0).astype(np.int8)
    return np.moveaxis(out, -1, axis)


def ternarize(x: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``t = sgn * ([x > hi] - [x < lo])`` per channel (last axis).

    Args:
        x: float array ``[..., C]``.
        thresholds: float32 ``[3, C]``: rows ``lo``, ``hi``, ``sgn``.

    Returns:
        ``int8`` trits of the shape of ``x``.
    """
    x = np.asarray(x, dtype=np.float32)
    lo, hi, sgn = (np.asarray(thresholds, dtype=np.float32)[i] for i in range(3))
    t = (x > hi).astype(np.int8) - (x < lo).astype(np.int8)
    return (t * sgn.astype(np.int8)).astype(np.int8)


def output_size(size: int, kernel: int, stride: int, padding: str) -> tuple[int, int]:
    """TFLite output size and leading padding for one spatial dimension."""
    if padding == "VALID":
        out = -(-(size - kernel + 1) // stride)
        return out, 0
    if padding == "SAME":
        out = -(-size // stride)
        pad_total = max((out - 1) * stride + kernel - size, 0)
        return out, pad_total // 2
    raise ValueError(f"Unknown padding {padding!r}.")


def _pad_input(x: np.ndarray, kh: int, kw: int, sh: int, sw: int, padding: str):
    n, h, w, c = x.shape
    ho, pt = output_size(h, kh, sh, padding)
    wo, pl = output_size(w, kw, sw, padding)
    if ho < 1 or wo < 1:
        raise ValueError("Empty output.")
    need_h = (ho - 1) * sh + kh
    need_w = (wo - 1) * sw + kw
    xp = np.zeros((n, max(need_h, pt + h), max(need_w, pl + w), c), dtype=np.float64)
    xp[:, pt : pt + h, pl : pl + w, :] = x
    return xp, ho, wo


def conv2d(
    x: np.ndarray, w_ohwi: np.ndarray, strides=(1, 1), padding="SAME"
) -> np.ndarray:
    """Accumulator of a conv2d, NHWC input, OHWI weights, float64 (exact for
    integer data)."""
    o, kh, kw, ci = w_ohwi.shape
    sh, sw = strides
    xp, ho, wo = _pad_input(np.asarray(x, np.float64), kh, kw, sh, sw, padding)
    acc = np.zeros((x.shape[0], ho, wo, o), dtype=np.float64)
    w = np.asarray(w_ohwi, np.float64)
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[
                :, ky : ky + sh * (ho - 1) + 1 : sh, kx : kx + sw * (wo - 1) + 1 : sw, :
            ]
            acc += np.einsum("nhwc,oc->nhwo", patch, w[:, ky, kx, :])
    return acc


def depthwise_conv2d(
    x: np.ndarray,
    w_hwo: np.ndarray,
    depth_multiplier: int,
    strides=(1, 1),
    padding="SAME",
) -> np.ndarray:
    """Accumulator of a depthwise conv2d; weights ``[kh, kw, C * M]``, output
    channel ``c * M + m`` reads input channel ``c``."""
    kh, kw, co = w_hwo.shape
    sh, sw = strides
    xp, ho, wo = _pad_input(np.asarray(x, np.float64), kh, kw, sh, sw, padding)
    xr = np.repeat(xp, depth_multiplier, axis=-1)
    assert xr.shape[-1] == co
    acc = np.zeros((x.shape[0], ho, wo, co), dtype=np.float64)
    for ky in range(kh):
        for kx in range(kw):
            patch = xr[
                :, ky : ky + sh * (ho - 1) + 1 : sh, kx : kx + sw * (wo - 1) + 1 : sw, :
            ]
            acc += patch * np.asarray(w_hwo[ky, kx], np.float64)
    return acc


def fully_connected(x: np.ndarray, w_oi: np.ndarray) -> np.ndarray:
    """Accumulator of a fully connected layer over the last axis (float64)."""
    return np.asarray(x, np.float64) @ np.asarray(w_oi, np.float64).T


def affine(
    acc: np.ndarray, scale: np.ndarray, bias: np.ndarray, activation: str = "NONE"
) -> np.ndarray:
    """``scale * acc + bias`` in float32, then the fused activation."""
    y = np.float32(1) * scale.astype(np.float32) * acc.astype(np.float32) + bias.astype(
        np.float32
    )
    if activation == "RELU":
        y = np.maximum(y, np.float32(0))
    elif activation != "NONE":
        raise ValueError(f"Unknown activation {activation!r}.")
    return y.astype(np.float32)
