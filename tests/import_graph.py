"""Our modules' imports, read from the source with `ast` (nothing is imported): the import-boundary and the
Lambda bundle tests walk them.

Every import statement counts, wherever it is (a function body's lazy import, an `if TYPE_CHECKING:` block):
each one couples the importing module to what it names.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
OUR_PACKAGES = ("orchestrator", "drs_orch", "handlers", "events", "localcloud", "infra")


def module_name(path: Path, root: Path = REPO_ROOT) -> str:
    """`orchestrator/steps/cleanup.py` -> `orchestrator.steps.cleanup`; a package's `__init__.py` is the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules_of(package: str, root: Path = REPO_ROOT) -> dict[str, Path]:
    """Every module of `package` (a top-level folder), by dotted name."""
    return {
        module_name(path, root): path
        for path in sorted((root / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def imports_of(path: Path) -> set[str]:
    """The dotted names a module imports: `import a.b` -> a.b; `from a.b import c` -> a.b and a.b.c (c may be
    a module or a name in a.b: callers keep the ones that are modules)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def within(name: str, packages: Iterable[str]) -> bool:
    """Is module `name` one of `packages` or inside one of them?"""
    return any(name == package or name.startswith(package + ".") for package in packages)


def our_modules(root: Path = REPO_ROOT) -> dict[str, Path]:
    return {name: path for package in OUR_PACKAGES for name, path in modules_of(package, root).items()}


def imported_closure(start: Iterable[str], root: Path = REPO_ROOT) -> set[str]:
    """Our modules that importing `start` loads: their imports, transitively, with each module's parent
    packages (importing a.b.c runs a/__init__.py and a/b/__init__.py)."""
    ours = our_modules(root)
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen or name not in ours:
            continue
        seen.add(name)
        parents = [".".join(name.split(".")[:n]) for n in range(1, name.count(".") + 1)]
        todo.extend(parents)
        todo.extend(imported for imported in imports_of(ours[name]) if imported in ours)
    return seen
