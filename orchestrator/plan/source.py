"""Read YAML or JSON text and remember, for every field path, the 1-based line it is on.

JSON is valid YAML, so one loader serves both. The composed node tree gives the lines; the
constructed document is the data. Paths use the plan's own notation: `waves[1].dependsOn[0]`.
"""

from __future__ import annotations

from typing import Any

import yaml

from orchestrator.plan.problems import Problem, join_path

Lines = dict[str, int]


class SourceError(Exception):
    """The text is not YAML/JSON (a syntax error), with the line where the parser stopped."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def load_text(text: str) -> tuple[Any, Lines, list[Problem]]:
    """Parse YAML/JSON text: the data, a path -> line table, and duplicate-key problems."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        raise SourceError(message or "not valid YAML or JSON", line) from exc
    except yaml.YAMLError as exc:
        raise SourceError(f"not valid YAML or JSON: {exc}", None) from exc
    finally:
        loader.dispose()
    lines: Lines = {}
    problems: list[Problem] = []
    if node is not None:
        _walk(node, (), lines, problems)  # raises SourceError on a recursive alias
    return data, lines, problems


def _walk(
    node: yaml.Node,
    path: tuple[str | int, ...],
    lines: Lines,
    problems: list[Problem],
    active: frozenset[int] = frozenset(),
) -> None:
    if id(node) in active:
        raise SourceError(
            "a YAML alias refers to the mapping or list that contains it", node.start_mark.line + 1
        )
    active = active | {id(node)}
    key = join_path(*path)
    lines.setdefault(key, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            name = str(key_node.value)
            child = (*path, name)
            if name in seen:
                problems.append(
                    Problem(
                        message=f"duplicate key '{name}' (the last one wins in YAML; remove one)",
                        code="duplicate-key",
                        path=join_path(*child),
                        line=key_node.start_mark.line + 1,
                    )
                )
                continue
            seen.add(name)
            lines[join_path(*child)] = key_node.start_mark.line + 1
            _walk(value_node, child, lines, problems, active)
            lines[join_path(*child)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines, problems, active)


def line_of(lines: Lines | None, path: str | None) -> int | None:
    """The line of `path`, or of its closest enclosing field that has one."""
    if not lines or path is None:
        return None
    current = path
    while True:
        if current in lines:
            return lines[current]
        if not current:
            return None
        cut = max(current.rfind("."), current.rfind("["))
        current = current[:cut] if cut > 0 else ""
