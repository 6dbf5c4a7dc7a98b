"""No drawer modules: a module of rapbot's packages over MAX_LINES says in its docstring why it is
one module ("One module ... because/on purpose ..."), see docs/architecture.md."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rapbot", "bot", "worker", "memory", "model", "training", "migrations")
MAX_LINES = 400


def test_a_long_module_says_why_it_is_one_module() -> None:
    unexplained = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            if source.count("\n") <= MAX_LINES:
                continue
            docstring = ast.get_docstring(ast.parse(source)) or ""
            if "One module" not in docstring:
                unexplained.append(f"{path.relative_to(ROOT)} ({source.count(chr(10))} lines)")
    assert not unexplained, "split these, or say in the docstring why each is one module: " + ", ".join(unexplained)
