"""The arrows of docs/architecture.md, checked on the source.

Every ``import`` of our own modules (at module level or inside a function:
an import hidden in a function to dodge a loop is still a loop) is read with
``ast`` and resolved to the module it names. Then:

* there is no import cycle among our modules;
* the runtime room (what ``Interpreter`` needs) imports neither Keras nor
  TensorFlow, and nothing of ours outside the runtime and the op contract;
* the op contract (op_format, packing, op_support) imports only itself;
* the training library (``sttn_keras`` core modules) reaches into
  ``sttn_keras.export`` only for the op contract;
* the C++ core (``export/core``) includes nothing of the TFLite glue or the
  host layer, and the glue nothing of the host layer;
* no Python file of ``sttn_keras/`` or ``export/`` is longer than
  ``MAX_LINES`` (a longer file most likely holds two ideas) unless the
  allow-list below says why it is one.
"""

from __future__ import annotations

import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Python source folders and the package each one is installed as.
PACKAGES = {"sttn_keras": "sttn_keras", "export": "sttn_keras.export"}

RUNTIME = {
    "sttn_keras.export.interpreter",
    "sttn_keras.export.native_library",
    "sttn_keras.export.runtime_choice",
    "sttn_keras.export.runtime_versions",
    "sttn_keras.export.runtime",
    "sttn_keras.export.inspect_tflite",
    "sttn_keras.export.inspect_model",  # deprecated alias of inspect_tflite
    "sttn_keras.export.benchmark_cli",
}
CONTRACT = {
    "sttn_keras.export.op_format",
    "sttn_keras.export.packing",
    "sttn_keras.export.op_support",
}
# The training library: layers, quantizers, models, training, conversion of
# a float model, summary. The applications (demo, tfmot) may use anything.
LIBRARY_EXEMPT = {"sttn_keras.demo"}
FRAMEWORKS = ("keras", "tensorflow", "tf_keras", "jax", "torch")
# TensorFlow's tf.lite is the fallback runtime, imported only when it is
# chosen or ai-edge-litert is missing (tests/test_runtime_lean.py checks that
# the default route loads no framework at all).
FRAMEWORK_EXCEPTIONS = {"sttn_keras.export.runtime_choice": {"tensorflow"}}


def _modules() -> dict[str, str]:
    """{module name: file path} of our Python modules."""
    found = {}
    for folder, package in PACKAGES.items():
        base = os.path.join(ROOT, folder)
        for dirpath, dirnames, files in os.walk(base):
            dirnames[:] = [d for d in dirnames if d != "__pycache__"]
            rel = os.path.relpath(dirpath, base)
            parts = [] if rel == "." else rel.split(os.sep)
            for f in files:
                if not f.endswith(".py"):
                    continue
                name = f[:-3]
                mod = ".".join(
                    [package, *parts] + ([] if name == "__init__" else [name])
                )
                found[mod] = os.path.join(dirpath, f)
    return found


MODULES = _modules()


def _is_package(mod: str) -> bool:
    return MODULES.get(mod, "").endswith("__init__.py")


def _imports(mod: str) -> tuple[set[str], set[str]]:
    """(our modules ``mod`` imports, top-level third-party names it imports)."""
    with open(MODULES[mod], encoding="utf-8") as f:
        tree = ast.parse(f.read())
    here = mod if _is_package(mod) else mod.rsplit(".", 1)[0]
    ours, others = set(), set()

    def add(name: str) -> None:
        while name and name not in MODULES:
            name = name.rsplit(".", 1)[0] if "." in name else ""
        if name:
            ours.add(name)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sttn_keras":
                    add(alias.name)
                else:
                    others.add(alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "sttn_keras":
                others.add(target.split(".")[0])
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                add(sub if sub in MODULES else target)
    ours.discard(mod)
    return ours, others


GRAPH = {mod: _imports(mod) for mod in MODULES}


def test_the_walk_finds_the_rooms():
    assert RUNTIME <= set(MODULES), sorted(RUNTIME - set(MODULES))
    assert CONTRACT <= set(MODULES), sorted(CONTRACT - set(MODULES))
    assert "sttn_keras.layers" in MODULES and "sttn_keras.tfmot.translate" in MODULES


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(GRAPH[v][0]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert _cycles() == []


def test_a_cycle_is_found():
    """The check itself: a loop added to the graph is reported."""
    saved = {k: (set(v[0]), v[1]) for k, v in GRAPH.items()}
    try:
        GRAPH["sttn_keras.export.op_format"][0].add("sttn_keras.export.packing")
        assert ["sttn_keras.export.op_format", "sttn_keras.export.packing"] in _cycles()
    finally:
        GRAPH.update(saved)


@pytest.mark.parametrize("mod", sorted(RUNTIME))
def test_the_runtime_imports_no_framework_and_nothing_of_the_export_side(mod):
    ours, others = GRAPH[mod]
    frameworks = (others & set(FRAMEWORKS)) - FRAMEWORK_EXCEPTIONS.get(mod, set())
    assert not frameworks, f"{mod} imports {frameworks}"
    allowed = RUNTIME | CONTRACT | {"sttn_keras", "sttn_keras.export"}
    assert ours <= allowed, f"{mod} imports {sorted(ours - allowed)}"


@pytest.mark.parametrize("mod", sorted(CONTRACT))
def test_the_op_contract_is_a_leaf(mod):
    ours, _ = GRAPH[mod]
    assert ours <= CONTRACT, f"{mod} imports {sorted(ours - CONTRACT)}"


def test_the_training_library_uses_only_the_contract_of_the_export_side():
    bad = {}
    for mod, (ours, _) in GRAPH.items():
        if mod.startswith("sttn_keras.export") or mod in LIBRARY_EXEMPT:
            continue
        reach = {m for m in ours if m.startswith("sttn_keras.export.")} - CONTRACT
        if reach:
            bad[mod] = sorted(reach)
    assert bad == {}


def _includes(path: str) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return re.findall(r'^\s*#\s*include\s+"([^"]+)"', f.read(), re.M)


@pytest.mark.parametrize(
    "folder, forbidden",
    [
        ("export/core", ("export/tflite/", "export/host/")),
        ("export/tflite", ("export/host/",)),
    ],
)
def test_cpp_layers_include_only_downwards(folder, forbidden):
    bad = []
    for f in sorted(os.listdir(os.path.join(ROOT, folder))):
        if f.endswith((".h", ".cc")):
            for inc in _includes(os.path.join(ROOT, folder, f)):
                if inc.startswith(forbidden):
                    bad.append(f"{folder}/{f}: {inc}")
    assert bad == []


# One idea per file: a module longer than this is split, or listed below with
# the reason it is one idea. The largest today (December 2026):
# sttn_keras/recalibration.py (~640 lines, one idea: BatchNorm re-estimation;
# see docs/architecture.md) and sttn_keras/summary_lib.py (~600).
MAX_LINES = 700
# {path relative to the repository: why it is one idea}. Empty: none is over.
LONG_FILES_ALLOWED: dict[str, str] = {}


# Old module paths kept for one release (docs/architecture.md, "One name per
# concept"): for users only; our own code imports the new modules.
DEPRECATED_ALIASES = {
    "sttn_keras.convert",
    "sttn_keras.export.converter",
    "sttn_keras.export.inspect_model",
}


def test_our_code_does_not_import_the_deprecated_module_paths():
    assert DEPRECATED_ALIASES <= set(MODULES)
    users = {mod: sorted(ours & DEPRECATED_ALIASES) for mod, (ours, _) in GRAPH.items()}
    assert {mod: old for mod, old in users.items() if old} == {}


def _line_count(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        return sum(1 for _ in f)


def test_no_python_file_is_too_long():
    too_long = {}
    for path in MODULES.values():
        rel = os.path.relpath(path, ROOT).replace(os.sep, "/")
        lines = _line_count(path)
        if lines > MAX_LINES and rel not in LONG_FILES_ALLOWED:
            too_long[rel] = lines
    assert too_long == {}, (
        f"over {MAX_LINES} lines: {too_long}; split the file by idea, or add it "
        "to LONG_FILES_ALLOWED with the reason it is one idea"
    )


def test_the_long_file_allow_list_is_current():
    """An entry whose file is gone or back under the limit is removed."""
    stale = [
        rel
        for rel in LONG_FILES_ALLOWED
        if not os.path.exists(os.path.join(ROOT, rel))
        or _line_count(os.path.join(ROOT, rel)) <= MAX_LINES
    ]
    assert stale == []
