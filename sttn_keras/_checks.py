"""Argument checks shared by the training library, with one message style."""

from __future__ import annotations

import numbers
import sys


def check_number(name, value, low=None, low_inclusive=True, integer=False):
    kinds = numbers.Integral if integer else numbers.Real
    ok = isinstance(value, kinds) and not isinstance(value, bool)
    if ok and low is not None:
        ok = value >= low if low_inclusive else value > low
    if not ok:
        what = "an integer" if integer else "a number"
        if low is not None:
            what += f" {'>=' if low_inclusive else '>'} {low}"
        raise ValueError(
            f"Received an invalid value for `{name}`, expected {what}. "
            f"Received: {name}={value!r}"
        )


def resolve_verbose(verbose):
    """``"auto"``: a progress bar only when stdout is a terminal."""
    if verbose == "auto":
        return bool(getattr(sys.stdout, "isatty", lambda: False)())
    if verbose in (0, 1, False, True):
        return bool(verbose)
    raise ValueError(
        'Received an invalid value for `verbose`, expected "auto", 0 or 1. '
        f"Received: verbose={verbose!r}"
    )
