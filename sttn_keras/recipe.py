"""The optimizer and learning-rate schedule of the STTN recipe.

Adam (lr 5e-3, no weight decay) under a cosine schedule with optional linear
warm-up, as in the reference implementation (Xu et al.).
"""

from __future__ import annotations

import keras

from ._checks import check_number


def cosine_schedule(
    initial_lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    final_lr_fraction: float = 0.0,
) -> keras.optimizers.schedules.LearningRateSchedule:
    """Cosine learning-rate decay with an optional linear warm-up.

    ``lr(step)`` rises linearly from 0 to ``initial_lr`` over the first
    ``warmup_steps`` steps, then follows
    ``initial_lr * (f + (1 - f) * (1 + cos(pi * t)) / 2)`` with
    ``t = (step - warmup_steps) / (total_steps - warmup_steps)`` and ``f`` =
    ``final_lr_fraction``, and stays at ``f * initial_lr`` after
    ``total_steps``. It is a ``keras.optimizers.schedules.CosineDecay``, so it
    serialises with the optimizer.

    Args:
        initial_lr: Peak learning rate, > 0.
        total_steps: Optimizer steps of the whole run (warm-up included), > 0.
        warmup_steps: Steps of linear warm-up, in ``[0, total_steps)``.
        final_lr_fraction: Final learning rate as a fraction of
            ``initial_lr``, in ``[0, 1]``.

    Returns:
        A ``keras.optimizers.schedules.LearningRateSchedule``.

    Example:

    >>> schedule = cosine_schedule(1e-3, total_steps=100)
    >>> round(float(schedule(50)), 6)
    0.0005
    """
    check_number("initial_lr", initial_lr, 0, low_inclusive=False)
    check_number("total_steps", total_steps, 1, integer=True)
    check_number("warmup_steps", warmup_steps, 0, integer=True)
    check_number("final_lr_fraction", final_lr_fraction, 0)
    if warmup_steps >= total_steps:
        raise ValueError(
            "Received an invalid value for `warmup_steps`, expected fewer than "
            f"total_steps={total_steps}. Received: warmup_steps={warmup_steps}"
        )
    if final_lr_fraction > 1:
        raise ValueError(
            "Received an invalid value for `final_lr_fraction`, expected a "
            f"number in [0, 1]. Received: final_lr_fraction={final_lr_fraction}"
        )
    if warmup_steps == 0:
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=float(initial_lr),
            decay_steps=int(total_steps),
            alpha=float(final_lr_fraction),
        )
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=int(total_steps - warmup_steps),
        alpha=float(final_lr_fraction),
        warmup_target=float(initial_lr),
        warmup_steps=int(warmup_steps),
    )


def reference_optimizer(
    total_steps: int, learning_rate: float = 5e-3, warmup_steps: int = 0
) -> keras.optimizers.Optimizer:
    """The recipe's optimizer: Adam, no weight decay, cosine schedule.

    Args:
        total_steps: Optimizer steps of the whole run.
        learning_rate: Peak learning rate (reference: 5e-3 at batch 256).
        warmup_steps: Linear warm-up steps (reference: 0).

    Returns:
        A ``keras.optimizers.Adam``.

    Example:

    >>> optimizer = reference_optimizer(total_steps=1000)
    >>> type(optimizer).__name__
    'Adam'
    """
    return keras.optimizers.Adam(
        learning_rate=cosine_schedule(learning_rate, total_steps, warmup_steps)
    )
