"""Input limits of a plan, checked before anything slow or recursive reads it.

A plan is small: a few levels deep, short strings, small numbers, at most a thousand waves. Input far
beyond that is refused with one specific problem (and where it is) instead of exhausting the parser:
a file or event too large, nesting thousands of levels deep (a RecursionError), YAML aliases that expand
to billions of values (a "billion laughs"), an integer of thousands of digits, control characters.

The YAML loader (`source.py`) enforces the limits that must hold *while* it reads text (size, control
characters, depth, aliases and what they expand to, scalar length, integer digits);
`data_problems` enforces the same limits on an already loaded document (a StartPlan event's plan, or
what the loader built), and `count_problems` the wave and server counts, before any other check runs.
"""

from __future__ import annotations

import re
from typing import Any

from orchestrator.domain.plan.problems import Problem, join_path

#: A plan file or event's plan, in UTF-8 bytes (or characters of text in an already loaded plan).
#: An inline plan in StartPlan travels in an EventBridge event of at most 256 KiB.
MAX_PLAN_BYTES = 512 * 1024
#: Mappings and lists nested in each other (a plan needs 9: plan, waves, wave, failback, postLaunch, script,
#: parameters, a parameter's list, its value).
MAX_DEPTH = 32
#: YAML aliases (`*name`) in one file.
MAX_ALIASES = 1_000
#: Values (mappings, lists, scalars) of the document once every alias is expanded.
MAX_VALUES = 250_000
#: Digits of an integer (the largest number a plan holds is a timeout of 6 digits).
MAX_INT_DIGITS = 18
#: Characters of one string (an SSM parameter holding a short script fits).
MAX_STRING_CHARS = 16_384
#: Waves of a plan, and source servers over all its waves (DRS: 4,000 source servers per account
#: by default, adjustable).
MAX_WAVES = 1_000
MAX_SERVERS = 10_000
#: At most this many limit problems are reported (the first ones in document order).
MAX_LIMIT_PROBLEMS = 10

# C0 controls but tab, newline and carriage return; DEL and the C1 controls; lone UTF-16 surrogates
# (JSON's "\ud800" escapes). YAML refuses the raw ones; escapes in quoted strings can still produce them.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def control_character_message(character: str) -> str:
    return f"control character U+{ord(character):04X} (only printable text is allowed)"


def string_message(length: int) -> str:
    return f"a string of {length:,} characters (at most {MAX_STRING_CHARS:,})"


def integer_message(digits: int) -> str:
    return f"an integer of {digits:,} digits (at most {MAX_INT_DIGITS})"


def depth_message() -> str:
    return f"nested deeper than {MAX_DEPTH} levels of mappings and lists"


def values_message() -> str:
    return f"more than {MAX_VALUES:,} values (mappings, lists, scalars)"


def size_message(size: int | None) -> str:
    """`size` None: more than the limit, by an unknown amount (a device or a pipe)."""
    if size is None:
        return f"the document is more than {MAX_PLAN_BYTES:,} bytes (the most allowed)"
    return f"the document is {size:,} bytes (at most {MAX_PLAN_BYTES:,})"


def text_problem(text: str) -> Problem | None:
    """The first control character in plan text, with its line and column, or None."""
    found = CONTROL_CHARACTERS.search(text)
    if found is None:
        return None
    start = found.start()
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    message = f"{control_character_message(found.group())} at column {column}"
    return Problem(message, "control-character", line=line)


def _string_problem(value: str, path: tuple[str | int, ...]) -> Problem | None:
    if len(value) > MAX_STRING_CHARS:
        return Problem(string_message(len(value)), "string-too-long", path=join_path(*path))
    found = CONTROL_CHARACTERS.search(value)
    if found is not None:
        return Problem(control_character_message(found.group()), "control-character", path=join_path(*path))
    return None


_INT_BOUND = 10**MAX_INT_DIGITS


def _digits(value: int) -> int:
    """Decimal digits of an integer (estimated past Python's 4,300-digit str() limit)."""
    if value.bit_length() < 14_000:
        return len(str(abs(value)))
    return int(value.bit_length() * 0.30103) + 1


def data_problems(data: Any) -> list[Problem]:
    """Limit problems of a loaded document: depth, values, string length and characters, integers, total
    text. Iterative (no recursion, whatever the depth) and bounded: it stops at MAX_VALUES values,
    MAX_DEPTH levels and MAX_LIMIT_PROBLEMS problems. Mapping keys are checked like strings."""
    problems: list[Problem] = []
    values = 0
    text = 0
    stack: list[tuple[Any, tuple[str | int, ...], int]] = [(data, (), 0)]
    while stack and len(problems) < MAX_LIMIT_PROBLEMS:
        value, path, depth = stack.pop()
        values += 1
        if values > MAX_VALUES:
            problems.append(Problem(values_message(), "too-many-values"))
            break
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                problems.append(Problem(depth_message(), "too-deep", path=join_path(*path)))
                continue
            children: list[tuple[Any, tuple[str | int, ...]]] = []
            if isinstance(value, dict):
                for key, item in value.items():
                    child = (*path, str(key) if not isinstance(key, str) else key)
                    if isinstance(key, str):
                        text += len(key)
                        problem = _string_problem(key, child)
                        if problem is not None:
                            problems.append(problem)
                            continue
                    children.append((item, child))
            else:
                children = [(item, (*path, index)) for index, item in enumerate(value)]
            stack.extend((item, child, depth + 1) for item, child in reversed(children))
        elif isinstance(value, str):
            text += len(value)
            problem = _string_problem(value, path)
            if problem is not None:
                problems.append(problem)
        elif isinstance(value, int) and not isinstance(value, bool) and not -_INT_BOUND < value < _INT_BOUND:
            problems.append(Problem(integer_message(_digits(value)), "number-too-long", path=join_path(*path)))
        if text > MAX_PLAN_BYTES:
            problems.append(Problem(f"the plan holds more than {MAX_PLAN_BYTES:,} characters of text", "too-large"))
            break
    return problems[:MAX_LIMIT_PROBLEMS]


def count_problems(data: dict[str, Any]) -> list[Problem]:
    """Too many waves, or too many servers over all waves (of a native-format document)."""
    waves = data.get("waves")
    if not isinstance(waves, list):
        return []
    if len(waves) > MAX_WAVES:
        message = f"the plan has {len(waves):,} waves (at most {MAX_WAVES:,})"
        return [Problem(message, "too-many-waves", path="waves")]
    servers = sum(
        len(wave["servers"]) for wave in waves if isinstance(wave, dict) and isinstance(wave.get("servers"), list)
    )
    if servers > MAX_SERVERS:
        message = f"the plan has {servers:,} servers over all its waves (at most {MAX_SERVERS:,})"
        return [Problem(message, "too-many-servers", path="waves")]
    return []
