"""Read YAML or JSON text and remember, for every field path, the 1-based line it is on.

JSON is valid YAML, so one loader serves both. The composed node tree gives the lines; the
constructed document is the data. Paths use the plan's own notation: `waves[1].dependsOn[0]`.

The loader enforces the input limits of `limits.py` while it reads, before anything is built from
the text: its size, control characters, nesting depth and alias count as it composes, the length of
every scalar and the digits of every integer, then what the aliases expand to (a few hundred bytes of
nested aliases can stand for billions of values). libyaml parses when it is installed (the events come
from C; composing them stays here, where the limits are counted).
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent, MappingStartEvent, SequenceStartEvent
from yaml.resolver import Resolver

from orchestrator.domain.plan.limits import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_INT_DIGITS,
    MAX_PLAN_BYTES,
    MAX_STRING_CHARS,
    MAX_VALUES,
    MAX_WAVES,
    depth_message,
    integer_message,
    size_message,
    string_message,
    text_problem,
    values_message,
)
from orchestrator.domain.plan.problems import Problem, join_path

Lines = dict[str, int]

_INT_TAG = "tag:yaml.org,2002:int"
_WAVES_KEYS = frozenset({"waves", "Waves"})  # native and seed format

if yaml.__with_libyaml__:  # pragma: no branch - libyaml ships in PyYAML's wheels
    from yaml.cyaml import CParser as _Parser  # type: ignore[attr-defined]

    def _init_parser(loader: Any, text: str) -> None:
        _Parser.__init__(loader, text)
else:  # pragma: no cover
    from yaml.parser import Parser as _PyParser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, _PyParser):  # type: ignore[no-redef]
        pass

    def _init_parser(loader: Any, text: str) -> None:
        Reader.__init__(loader, text)
        Scanner.__init__(loader)
        _PyParser.__init__(loader)


class SourceError(Exception):
    """The text is not YAML/JSON (a syntax error), with the line where the parser stopped."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class LimitError(SourceError):
    """The text exceeds an input limit (`limits.py`): `code` names which, `line` where when known."""

    def __init__(self, message: str, code: str, line: int | None = None) -> None:
        super().__init__(message, line)
        self.code = code


def _line(node_or_event: Any) -> int | None:
    mark = getattr(node_or_event, "start_mark", None)
    return mark.line + 1 if mark is not None else None


class _BoundedComposer(Composer):
    """PyYAML's composer, counting depth and aliases as it goes and checking every scalar."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.aliases = 0
        self.in_waves = False  # composing the items of the top-level `waves` list

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[attr-defined]
        if self.in_waves and self.depth == 2 and isinstance(index, int) and index >= MAX_WAVES:
            raise LimitError(f"the plan has more than {MAX_WAVES:,} waves", "too-many-waves", _line(event))
        if isinstance(event, AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise LimitError(f"more than {MAX_ALIASES:,} YAML aliases", "too-many-aliases", _line(event))
            return super().compose_node(parent, index)
        if not isinstance(event, SequenceStartEvent | MappingStartEvent):
            return super().compose_node(parent, index)
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise LimitError(depth_message(), "too-deep", _line(event))
        waves = self.depth == 2 and isinstance(index, yaml.ScalarNode) and index.value in _WAVES_KEYS
        self.in_waves = self.in_waves or waves
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1
            self.in_waves = self.in_waves and not waves

    def compose_scalar_node(self, anchor: Any) -> yaml.ScalarNode:
        node: yaml.ScalarNode = super().compose_scalar_node(anchor)
        value = str(node.value)
        if len(value) > MAX_STRING_CHARS:
            raise LimitError(string_message(len(value)), "string-too-long", _line(node))
        if node.tag == _INT_TAG:
            digits = sum(1 for char in value if char.isalnum()) - value.lower().startswith(("0x", "0o", "0b"))
            if digits > MAX_INT_DIGITS:
                raise LimitError(integer_message(digits), "number-too-long", _line(node))
        return node


class _Loader(_BoundedComposer, _Parser, SafeConstructor, Resolver):
    def __init__(self, text: str) -> None:
        _init_parser(self, text)
        _BoundedComposer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Count the values and depth of the document with every alias expanded, without expanding it.

    Each composed node is measured once (post-order, no recursion): linear in the text, whatever it
    expands to. Raises LimitError past MAX_VALUES or MAX_DEPTH, SourceError for a recursive alias."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, closing = stack.pop()
        key = id(node)
        if closing:
            children = _children(node)
            size[key] = 1 + sum(size[id(child)] for child in children)
            nested = isinstance(node, yaml.MappingNode | yaml.SequenceNode)
            depth[key] = int(nested) + max((depth[id(child)] for child in children), default=0)
            open_nodes.discard(key)
            if size[key] > MAX_VALUES:
                raise LimitError(
                    f"YAML aliases expand the document to {values_message()}", "alias-expansion", _line(node)
                )
            if depth[key] > MAX_DEPTH:
                raise LimitError(f"YAML aliases make it {depth_message()}", "too-deep", _line(node))
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise SourceError("a YAML alias refers to the mapping or list that contains it", _line(node))
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(_children(node)) if id(child) not in size)


def _compose(text: str) -> tuple[Any, yaml.Node | None]:
    if len(text) > MAX_PLAN_BYTES or (
        len(text) * 4 > MAX_PLAN_BYTES and len(text.encode("utf-8", "replace")) > MAX_PLAN_BYTES
    ):
        raise LimitError(size_message(len(text.encode("utf-8", "replace"))), "too-large")
    control = text_problem(text)
    if control is not None:
        raise LimitError(control.message, control.code, control.line)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        if loader.aliases:  # without aliases the tree is what was composed: bounded already
            _check_expansion(node)
        return loader.construct_document(node), node
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        if "maximum nesting depth" in message:  # libyaml's own limit (1,000), past ours
            raise LimitError(depth_message(), "too-deep", line) from exc
        raise SourceError(message or "not valid YAML or JSON", line) from exc
    except yaml.YAMLError as exc:
        raise SourceError(f"not valid YAML or JSON: {exc}", None) from exc
    except (ValueError, TypeError, OverflowError) as exc:  # a tagged value the constructor cannot build
        raise SourceError(f"a value cannot be read: {exc}", None) from exc
    finally:
        loader.dispose()


def load_text(text: str) -> tuple[Any, Lines, list[Problem]]:
    """Parse YAML/JSON text: the data, a path -> line table, and duplicate-key problems.

    Raises LimitError for text over an input limit, SourceError for text that is not YAML or JSON."""
    data, node = _compose(text)
    lines: Lines = {}
    problems: list[Problem] = []
    if node is not None:
        _walk(node, (), lines, problems)  # raises SourceError on a recursive alias
    return data, lines, problems


def load_yaml(text: str) -> Any:
    """Only the data of YAML/JSON text, under the same limits (simulation profiles)."""
    return _compose(text)[0]


def _walk(
    node: yaml.Node,
    path: tuple[str | int, ...],
    lines: Lines,
    problems: list[Problem],
    active: frozenset[int] = frozenset(),
) -> None:
    if id(node) in active:
        raise SourceError("a YAML alias refers to the mapping or list that contains it", node.start_mark.line + 1)
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
