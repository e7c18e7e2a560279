"""The public API is typed and documented.

Every name in a library module's ``__all__`` that is a function, or a class
method that is not a Keras hook the class overrides, has type hints on its
parameters (constructor arguments forwarded to a Keras base class excepted)
and return value, and every public function or class has a docstring with an
example (``>>>``; ``test_docstring_examples.py`` runs them).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import sttn_keras
import sttn_keras.export


def _modules():
    names = ["sttn_keras", "sttn_keras.export"]
    for package in (sttn_keras, sttn_keras.export):
        # Subpackages too (sttn_keras.tfmot.*); private names (_sttn_ops.so,
        # _tf_keras) are not walked.
        prefix = package.__name__ + "."
        # Renamed modules' old paths (deprecated aliases of one release)
        # are the new modules themselves: walked under their new names only.
        renamed = {prefix + old for old in package._RENAMED}
        for info in pkgutil.walk_packages(package.__path__, prefix):
            if info.name in renamed:
                continue
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.append(info.name)
    return sorted(set(names))


def _public(module):
    for name in getattr(module, "__all__", ()):
        obj = getattr(module, name, None)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and getattr(
            obj, "__module__", None
        ) == module.__name__:
            yield name, obj


def _keras_bases():
    import keras

    return (
        keras.layers.Layer,
        keras.Model,
        keras.callbacks.Callback,
        keras.losses.Loss,
        keras.quantizers.Quantizer,
    )


def _overrides_a_base(cls, name):
    """True for a method a base class already defines (a Keras hook such as
    ``call``, ``build``, ``get_config`` or ``fit``; a mixin's hooks count
    too): its signature is the base's."""
    if any(name in vars(base) for base in cls.__mro__[1:]):
        return True
    return any(hasattr(base, name) for base in _keras_bases())


def _forwarded(cls, name):
    """Constructor arguments that a base class's constructor also takes (a
    Keras layer's ``filters``, ``activation``, ...): forwarded, typed there
    or not at all."""
    for base in cls.__mro__[1:]:
        init = vars(base).get("__init__")
        if init is not None and name in inspect.signature(init).parameters:
            return True
    return False


def _functions(module):
    for name, obj in _public(module):
        if inspect.isfunction(obj):
            yield name, obj
            continue
        for attr, member in vars(obj).items():
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if not inspect.isfunction(member):
                continue
            if attr.startswith("_") and attr != "__init__":
                continue
            if attr != "__init__" and _overrides_a_base(obj, attr):
                continue
            yield f"{name}.{attr}", member


MODULES = _modules()


@pytest.mark.parametrize("name", MODULES)
def test_public_functions_have_type_hints(name):
    module = importlib.import_module(name)
    missing = []
    for qualname, fn in _functions(module):
        sig = inspect.signature(fn)
        for p in sig.parameters.values():
            if p.name in ("self", "cls") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if p.annotation is not inspect.Parameter.empty:
                continue
            owner = getattr(module, qualname.split(".")[0])
            if qualname.endswith(".__init__") and _forwarded(owner, p.name):
                continue
            missing.append(f"{qualname}({p.name})")
        if sig.return_annotation is inspect.Signature.empty and not qualname.endswith(
            "__init__"
        ):
            missing.append(f"{qualname} -> ?")
    assert missing == [], f"{name}: no type hints on {missing}"


@pytest.mark.parametrize("name", MODULES)
def test_public_names_have_an_example(name):
    module = importlib.import_module(name)
    without = [n for n, obj in _public(module) if ">>>" not in (obj.__doc__ or "")]
    assert without == [], f"{name}: public names without a docstring example: {without}"
