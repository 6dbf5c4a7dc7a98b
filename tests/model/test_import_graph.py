"""No import circles among rapbot's modules: read every module's imports with `ast` (nothing is
imported) and look for a cycle. Imports under `if TYPE_CHECKING:` count: a circle hidden from the
interpreter is still a circle in the design. Beside `lint-imports`' acyclic_siblings contract
(pyproject.toml), this one also sees a package and its own module importing each other."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "worker", "memory", "model", "training", "rapbot", "migrations")


def _modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


def _imports(tree: ast.Module, module_level_only: bool) -> list[ast.Import | ast.ImportFrom]:
    """The import statements at module level (in if/try/with blocks, `if TYPE_CHECKING:` included),
    and, unless `module_level_only`, inside functions too."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif module_level_only and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        else:
            pending.extend(ast.iter_child_nodes(node))
    return found


def _targets(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, modules: dict[str, Path]) -> set[str]:
    """The rapbot modules an import statement loads (the deepest known module of each name)."""

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = importer if is_package else importer.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if base else package
        # `from worker import metrics` loads worker.ops.metrics; `from worker.x import f` loads worker.x.
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
    return {target for target in map(known, names) if target and target != importer}


def import_graph(
    module_level_only: bool, root: Path = ROOT, packages: tuple[str, ...] = PACKAGES
) -> dict[str, set[str]]:
    modules = _modules(root, packages)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        graph[name] = set().union(
            *(_targets(node, name, is_package, modules) for node in _imports(tree, module_level_only))
        )
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        return list(error.args[1])
    return None


def test_a_circle_through_an_import_inside_a_function_is_found(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("from pkg.b import g\n")
    (tmp_path / "pkg" / "b.py").write_text("def g():\n    from . import a\n    return a\n")
    assert _cycle(import_graph(True, tmp_path, ("pkg",))) is None
    assert set(_cycle(import_graph(False, tmp_path, ("pkg",))) or []) == {"pkg.a", "pkg.b"}


def test_a_circle_behind_type_checking_is_a_circle(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("from pkg.b import g\n")
    (tmp_path / "pkg" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import A\ndef g(): ...\n"
    )
    assert set(_cycle(import_graph(True, tmp_path, ("pkg",))) or []) == {"pkg.a", "pkg.b"}


def test_a_package_and_its_module_importing_each_other_is_a_circle(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("from pkg.a import A\n")
    (tmp_path / "pkg" / "a.py").write_text("from pkg import B\nclass A: ...\n")
    assert set(_cycle(import_graph(True, tmp_path, ("pkg",))) or []) == {"pkg", "pkg.a"}


def test_the_graph_sees_the_imports_it_should() -> None:
    graph = import_graph(module_level_only=False)
    assert {"worker.domain.mentions", "worker.domain.grounding", "model.answers"} <= graph["worker.domain.pipeline"]
    assert "worker.ops.metrics" in graph["worker.ops.cli"]  # `from worker.ops import metrics`
    assert "model.convert" in graph["model.generator"]  # module level since the circle is gone
    assert "model.projector" in graph["training.trainer"]
    module_level = import_graph(module_level_only=True)
    # worker.ops.cli imports worker.transport.tasks inside a command only (the bots never load the networks).
    assert "worker.transport.tasks" in graph["worker.ops.cli"]
    assert "worker.transport.tasks" not in module_level["worker.ops.cli"]


@pytest.mark.parametrize("module_level_only", [True, False], ids=["module-level", "in-functions-too"])
def test_no_import_cycles(module_level_only: bool) -> None:
    cycle = _cycle(import_graph(module_level_only))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


# The network libraries model/ and training/ import inside the functions that use them, so importing
# any module of model/ loads none of them (a store-only worker and the bots never do).
DEFERRED = frozenset(
    {"torch", "transformers", "peft", "open_clip", "ultralytics", "dlib", "safetensors", "tokenizers", "vllm"}
    | {"huggingface_hub", "matplotlib"}
)


def local_imports_without_a_reason(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Imports inside functions that neither load only DEFERRED libraries nor say why they are there
    in a `#` comment (on the line, or just above the run of imports it belongs to)."""
    found: list[str] = []
    for name, path in sorted(_modules(root, packages).items()):
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        tree = ast.parse(source)
        module_level = {id(node) for node in _imports(tree, True)}
        local = sorted((node for node in _imports(tree, False) if id(node) not in module_level), key=lambda n: n.lineno)
        explained: set[int] = set()
        for node in local:
            roots = (
                {"."}
                if isinstance(node, ast.ImportFrom) and node.level
                else {
                    (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
                    for alias in (node.names if isinstance(node, ast.Import) else [node.names[0]])
                }
            )
            if {module.split(".")[0] for module in roots} <= DEFERRED or _says_why(lines, node.lineno, explained):
                explained.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
                continue
            found.append(f"{name}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return found


def _says_why(lines: list[str], lineno: int, explained: set[int]) -> bool:
    if "#" in lines[lineno - 1]:
        return True
    above = lineno - 1
    while above >= 1 and not lines[above - 1].strip():
        above -= 1  # the blank line between import groups
    return above in explained or (above >= 1 and lines[above - 1].strip().startswith("#"))


def test_an_import_inside_a_function_must_say_why(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text(
        "def f():\n    import torch\n    # pkg.b is slow to import\n    import json\n\n    from pkg import b\n"
        "def g():\n    from pkg import b\n    return b\n"
        "def h():\n    from pkg import b  # only h needs it\n"
    )
    (tmp_path / "pkg" / "b.py").write_text("")
    assert local_imports_without_a_reason(tmp_path, ("pkg",)) == ["pkg.a:8: from pkg import b"]


def test_every_import_inside_a_function_says_why() -> None:
    """No import hides in a function to dodge a circle: each one defers a heavy library (DEFERRED),
    or says in a comment why it waits."""
    unexplained = local_imports_without_a_reason()
    assert not unexplained, "imports inside functions without a reason:\n" + "\n".join(unexplained)
