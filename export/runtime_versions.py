"""The LiteRT runtimes the sttn host layer supports, defined once.

``setup.py`` (``install_requires``), ``export/runtime.py`` (the check at load
time), the README and the slow test ``tests/test_litert_versions.py`` all read
the range from here. This module imports nothing but the standard library, so
that ``setup.py`` can run it before anything is installed.

The range is what has been run: every ai-edge-litert release on PyPI inside it
(``TESTED_LITERT_VERSIONS``) passed the kernel spot checks in a fresh virtual
environment holding only numpy and that wheel; CI repeats it for the oldest
and the newest (``CI_LITERT_VERSIONS``). Outside it: 1.0.0 and 1.0.1 are
compiled against NumPy 1.x (they fail to import under NumPy 2); 1.1.0 raises
``AttributeError`` in ``Interpreter(num_threads=...)``, a bug of that release.

Example:

>>> LITERT_REQUIREMENT
'ai-edge-litert>=1.1.1,<2.4'
>>> litert_version_supported("2.3.0"), litert_version_supported("2.4.0")
(True, False)
"""

from __future__ import annotations

import re

__all__ = [
    "CI_LITERT_VERSIONS",
    "LITERT_DISTRIBUTION",
    "LITERT_MAX_VERSION",
    "LITERT_MIN_VERSION",
    "LITERT_REQUIREMENT",
    "LITERT_SPECIFIER",
    "TESTED_LITERT_VERSIONS",
    "TESTED_TENSORFLOW_VERSIONS",
    "litert_version_supported",
    "parse_release",
]

LITERT_DISTRIBUTION = "ai-edge-litert"
LITERT_MIN_VERSION = "1.1.1"  # inclusive
LITERT_MAX_VERSION = "2.4"  # exclusive: 2.4 and its pre-releases are outside
LITERT_SPECIFIER = f">={LITERT_MIN_VERSION},<{LITERT_MAX_VERSION}"
LITERT_REQUIREMENT = f"{LITERT_DISTRIBUTION}{LITERT_SPECIFIER}"

# Every release of the range on PyPI (CPython 3.11, x86-64 and aarch64 wheels
# for each), each run through the spot checks of tests/test_litert_versions.py
# on x86-64 (STTN_LITERT_VERSIONS=all).
TESTED_LITERT_VERSIONS = (
    "1.1.1", "1.1.2", "1.2.0", "1.3.0", "1.4.0",
    "2.0.2", "2.0.3",
    "2.1.0", "2.1.1", "2.1.2", "2.1.3", "2.1.4", "2.1.5", "2.1.6",
    "2.2.0", "2.3.0",
)  # fmt: skip
# What `make test` installs and runs every time: the two ends of the range.
CI_LITERT_VERSIONS = (TESTED_LITERT_VERSIONS[0], TESTED_LITERT_VERSIONS[-1])
# tf.lite.Interpreter, used when ai-edge-litert is not installed (no range:
# the host layer's layout probe decides at load time).
TESTED_TENSORFLOW_VERSIONS = ("2.21.0",)

_RELEASE = re.compile(r"^\s*v?(\d+(?:\.\d+)*)(.*)$")


def parse_release(version: str) -> tuple[tuple[int, ...], bool]:
    """Splits a version string into its release numbers and a pre-release flag.

    Args:
        version: e.g. ``"2.3.0"``, ``"2.4.0.dev20261101"``, ``"2.3.0rc1"``.

    Returns:
        ``(release, is_pre)``: the release as a tuple of ints without trailing
        zeros, and whether a pre-release or dev suffix follows it.

    Raises:
        ValueError: ``version`` does not start with a release number.

    Example:

    >>> parse_release("2.4.0.dev20261101")
    ((2, 4), True)
    """
    match = _RELEASE.match(str(version))
    if match is None:
        raise ValueError(
            f"Received an invalid version string, expected e.g. '2.3.0'. "
            f"Received: {version!r}"
        )
    release = [int(p) for p in match.group(1).split(".")]
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    suffix = match.group(2).strip().lower()
    is_pre = bool(re.match(r"^[.\-_]?(a|b|c|rc|alpha|beta|pre|preview|dev)", suffix))
    return tuple(release), is_pre


def litert_version_supported(version: str) -> bool:
    """Whether an ai-edge-litert version lies in ``LITERT_SPECIFIER``.

    Follows pip's reading of ``>=1.1.1,<2.4``: pre-releases of 2.4 are outside,
    as are pre-releases of 1.1.1.

    Args:
        version: the installed version, e.g. ``ai_edge_litert.__version__``.

    Returns:
        True inside the supported range, False outside it or for a version
        string that cannot be read.

    Example:

    >>> [litert_version_supported(v) for v in ("1.1.0", "1.1.1", "2.4.0.dev1")]
    [False, True, False]
    """
    try:
        release, is_pre = parse_release(version)
    except ValueError:
        return False
    low, _ = parse_release(LITERT_MIN_VERSION)
    high, _ = parse_release(LITERT_MAX_VERSION)
    if release < low or (release == low and is_pre):
        return False
    return release < high
