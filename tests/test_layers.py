"""The house rules of vsr/ (docs/architecture.md, "Layout"): every module belongs to a layer, and
may import only from its own layer or the ones below; runtimes are leaves; nothing imports in a
circle. Read from the source with ast, so lazy imports inside functions and imports under
TYPE_CHECKING count as much as those at the top of a module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vsr"

# Lowest first. A module's layer is the first entry whose name is the module or a package above it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "kernel",
        (
            "vsr.version",
            "vsr.errors",
            "vsr.config",
            "vsr.frames",
            "vsr.machine",
            "vsr.metrics",
            "vsr.degradations",
            "vsr.jod",
        ),
    ),
    ("models and io", ("vsr.models", "vsr.io")),
    (
        "engine base",
        (
            "vsr.engine",
            "vsr.engine.base",
            "vsr.engine.exported",
            "vsr.engine.runner",
            "vsr.engine.yuv",
            "vsr.engine.transfer",
        ),
    ),
    ("runtimes", ("vsr.engine.compiled", "vsr.engine.ort", "vsr.engine.openvino", "vsr.engine.tensorrt")),
    ("runtime choice", ("vsr.engine.runtimes", "vsr.engine.autotune")),
    ("engine top", ("vsr.engine.build",)),
    ("pipeline", ("vsr.pipeline",)),
    ("features", ("vsr.bench", "vsr.evaluate")),
    ("cluster", ("vsr.cluster",)),
    ("batch", ("vsr.batch",)),
    ("commands", ("vsr.commands",)),
    ("cli and the package's face", ("vsr.cli", "vsr.__main__", "vsr")),
]
RANKS = [name for name, _ in LAYERS]
EXACT = {"vsr", "vsr.engine"}  # these names stand for the package's __init__ only
LEAVES = "runtimes"  # no two modules of this layer import each other


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _rank(module: str) -> int:
    best: tuple[int, int] | None = None  # (length of the matched name, rank): the closest match wins
    for rank, (_, names) in enumerate(LAYERS):
        for name in names:
            # packages whose modules are placed one by one are matched exactly (EXACT)
            if module == name or (name not in EXACT and module.startswith(name + ".")):
                if best is None or len(name) > best[0]:
                    best = (len(name), rank)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS and to docs/architecture.md")
    return best[1]


def imports_of(module: str) -> set[str]:
    """The vsr modules `module` imports, anywhere in its source (a package's __init__ for a
    package; `from a import b` names the module a.b where there is one)."""
    tree = ast.parse(MODULES[module].read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [
                f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES else node.module
                for alias in node.names
            ]
        else:
            continue
        found |= {n for n in names if n == "vsr" or n.startswith("vsr.")}
    return {n for n in found if n in MODULES and n != module}


GRAPH = {module: imports_of(module) for module in MODULES}


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        _rank(module)


def upward(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{module} ({RANKS[_rank(module)]}) imports {target} ({RANKS[_rank(target)]})"
        for module, targets in graph.items()
        for target in sorted(targets)
        if _rank(target) > _rank(module)
    ]


def find_circle(graph: dict[str, set[str]]) -> list[str] | None:
    """A circle of imports (depth-first search for a back edge), or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state and (circle := visit(target)):
                return circle
        stack.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (circle := visit(module)):
            return circle
    return None


def test_no_import_goes_up_a_layer() -> None:
    found = upward(GRAPH)
    assert not found, "\n".join(found)


def test_runtimes_are_leaves() -> None:
    leaves = {m for m in MODULES if RANKS[_rank(m)] == LEAVES}
    assert {"vsr.engine.compiled", "vsr.engine.ort", "vsr.engine.openvino", "vsr.engine.tensorrt"} <= leaves
    crossing = [f"{m} imports {t}" for m in sorted(leaves) for t in sorted(GRAPH[m] & leaves)]
    assert not crossing, "\n".join(crossing)


def test_no_import_circle() -> None:
    circle = find_circle(GRAPH)
    assert circle is None, "import circle: " + " -> ".join(circle or [])


def test_only_the_train_command_reaches_into_the_training_tree() -> None:
    reaching = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "train" or n.startswith("train.") for n in names):
                reaching.append(module)
    assert set(reaching) <= {"vsr.commands.train"}, reaching


def test_the_checks_can_fail() -> None:
    """The rules see an upward import, a circle, and a module in no layer, where there is one;
    and they read lazy imports (vsr.engine.build imports autotune inside a function)."""
    assert "vsr.engine.autotune" in imports_of("vsr.engine.build")
    fake = {**GRAPH, "vsr.engine.base": GRAPH["vsr.engine.base"] | {"vsr.engine.build"}}
    assert upward(fake) == ["vsr.engine.base (engine base) imports vsr.engine.build (engine top)"]
    assert find_circle(fake) is not None and find_circle(fake)[0] == find_circle(fake)[-1]
    for stray in ("vsr.newthing", "vsr.engine.newthing"):
        with pytest.raises(AssertionError, match="in no layer"):
            _rank(stray)
