"""Values from the run in step parameters: the `${{ ... }}` syntax, what it may name, and its checks at plan load.

A string in a step's `parameters` (a value, or an item of a list value) may hold references to what the run has
produced by the time the step is sent, resolved then (`orchestrator.steps.parameter_values`):

    ${{ run.executionId }}    ${{ run.mode }}    ${{ run.planId }}    ${{ run.planName }}
    ${{ waves.<waveId>.instanceIds }}    ${{ waves.<waveId>.privateIps }}                        (lists)
    ${{ waves.<waveId>.servers.<sourceServerID>.instanceId }}    ${{ ...servers.<sourceServerID>.privateIp }}

Why `${{ }}`: SSM itself reads `{{ssm:name}}` inside the parameter VALUES of SendCommand (Parameter Store
references, AWS Systems Manager user guide, "Working with parameters using Run Command commands") and documents use
`{{ Param }}`, so `{{ }}` is SSM's; and `${NAME}` is a shell's and PowerShell's own variable syntax inside the
`commands` of AWS-RunShellScript and AWS-RunPowerShellScript. `${{` is neither (bash refuses it as a bad
substitution), so nothing a script means is taken for a reference. `$${{` writes a literal `${{`. Spaces inside the
braces are optional.

A wave named must be UPSTREAM of the step's wave (one it depends on, directly or not: its recovery instances exist
when the step runs), or the step's own wave in a postLaunch step or a healthCheck (its instances were just
recovered); not in a preLaunch step (nothing of it is recovered yet). A list (instanceIds, privateIps: one entry per
launched server, in source server id order, so the n-th IP is the n-th instance's) becomes several items when it is
a whole item of a list-valued parameter, and is joined with commas anywhere else (inside a string value, or with
other text around it).

Wave ids may contain dots: `waves.` is followed by the longest known wave id that leaves an attribute after it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from typing import Any

from orchestrator.domain.plan.graph import _Upstream, ancestors
from orchestrator.domain.plan.problems import Problem, join_path
from orchestrator.domain.plan.suggest import Suggestions, quote

OPEN = "${{"
CLOSE = "}}"
ESCAPE = "$${{"  # a literal "${{"
RUN_ATTRIBUTES = ("executionId", "mode", "planId", "planName")
WAVE_LIST_ATTRIBUTES = ("instanceIds", "privateIps")
SERVER_ATTRIBUTES = ("instanceId", "privateIp")
_WAVE_KNOWN = "instanceIds, privateIps, servers.<sourceServerID>.instanceId, servers.<sourceServerID>.privateIp"
_PATH = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


@dataclass(frozen=True, slots=True)
class RunReference:
    """One reference as written (`text`, e.g. `${{ waves.db.privateIps }}`): its root (`run` or `waves`), the
    attribute it reads, and the wave and source server it names (None for `run`)."""

    text: str
    root: str
    attribute: str
    wave_id: str | None = None
    server_id: str | None = None

    @property
    def is_list(self) -> bool:
        """A wave's instanceIds or privateIps: a list of strings (one per launched server)."""
        return self.attribute in WAVE_LIST_ATTRIBUTES


@dataclass(frozen=True, slots=True)
class ReferenceProblem:
    """Why a reference (or the text around it) is not one: a message and a stable problem code."""

    message: str
    code: str


#: A parsed string: literal text and references, in order.
Piece = str | RunReference


def has_references(text: str) -> bool:
    """Whether `text` holds `${{` at all (an escaped `$${{` counts: parsing it is cheap)."""
    return OPEN in text


def split_text(
    text: str, wave_ids: Collection[str], suggestions: Suggestions | None = None
) -> list[Piece] | ReferenceProblem:
    """`text` as literal pieces and references, naming waves among `wave_ids`; the first problem otherwise (an
    unknown wave with a 'did you mean' hint from `suggestions`, when given)."""
    pieces: list[Piece] = []
    for piece in _scan(text):
        if isinstance(piece, tuple):
            found = interpret(piece[0], piece[1], wave_ids, suggestions)
            if isinstance(found, ReferenceProblem):
                return found
            pieces.append(found)
        elif isinstance(piece, ReferenceProblem):
            return piece
        elif piece and pieces and isinstance(pieces[-1], str):
            pieces[-1] += piece  # an escaped `${{` and the text around it are one literal
        elif piece:
            pieces.append(piece)
    return pieces


def _scan(text: str) -> Iterator[str | tuple[str, str] | ReferenceProblem]:
    """Literal text, (reference text, its inner path) pairs, or an error for an unclosed reference."""
    position = 0
    while position < len(text):
        start = text.find(OPEN, position)
        if start < 0:
            yield text[position:]
            return
        if start > 0 and text[start - 1] == "$" and text.startswith(ESCAPE, start - 1):
            yield text[position : start - 1] + OPEN  # `$${{`: a literal `${{`
            position = start + len(OPEN)
            continue
        yield text[position:start]
        end = text.find(CLOSE, start + len(OPEN))
        if end < 0:
            yield ReferenceProblem(
                f"malformed reference '{quote(text[start:], 40)}': '${{{{' without its closing '}}}}'",
                "malformed-reference",
            )
            return
        yield text[start : end + len(CLOSE)], text[start + len(OPEN) : end].strip()
        position = end + len(CLOSE)


def interpret(
    text: str, path: str, wave_ids: Collection[str], suggestions: Suggestions | None = None
) -> RunReference | ReferenceProblem:
    """The reference `text` whose inner `path` is e.g. `waves.db.privateIps`, naming waves among `wave_ids`."""
    if not _PATH.fullmatch(path):
        return ReferenceProblem(
            f"malformed reference '{quote(text, 60)}' (expected dotted names, e.g. ${{{{ run.executionId }}}} or "
            "${{ waves.<waveId>.privateIps }})",
            "malformed-reference",
        )
    root, *rest = path.split(".")
    if root == "run":
        return _run_reference(text, rest)
    if root == "waves":
        return _wave_reference(text, rest, wave_ids, suggestions or Suggestions())
    return ReferenceProblem(
        f"unknown reference root '{quote(root, 40)}' in '{quote(text, 60)}' (known: run, waves)",
        "unknown-reference-root",
    )


def _run_reference(text: str, rest: list[str]) -> RunReference | ReferenceProblem:
    if len(rest) == 1 and rest[0] in RUN_ATTRIBUTES:
        return RunReference(text, "run", rest[0])
    what = ".".join(rest) or "(none)"
    return ReferenceProblem(
        f"unknown attribute '{quote(what, 40)}' of run in '{quote(text, 60)}' (known: {', '.join(RUN_ATTRIBUTES)})",
        "unknown-reference-attribute",
    )


def _wave_reference(
    text: str, rest: list[str], wave_ids: Collection[str], suggestions: Suggestions
) -> RunReference | ReferenceProblem:
    cut = next((k for k in range(len(rest), 0, -1) if ".".join(rest[:k]) in wave_ids), 0)
    if cut == 0:
        guess = _guess_wave(rest)
        return ReferenceProblem(
            f"'{quote(text, 60)}' names unknown wave '{quote(guess, 64)}'{suggestions.hint(guess, wave_ids)}",
            "unknown-reference-wave",
        )
    wave_id, tail = ".".join(rest[:cut]), rest[cut:]
    if len(tail) == 1 and tail[0] in WAVE_LIST_ATTRIBUTES:
        return RunReference(text, "waves", tail[0], wave_id)
    if len(tail) == 3 and tail[0] == "servers" and tail[2] in SERVER_ATTRIBUTES:
        return RunReference(text, "waves", tail[2], wave_id, tail[1])
    what = ".".join(tail) or "(none)"
    return ReferenceProblem(
        f"unknown attribute '{quote(what, 60)}' of wave '{wave_id}' in '{quote(text, 60)}' (known: {_WAVE_KNOWN})",
        "unknown-reference-attribute",
    )


def _guess_wave(rest: list[str]) -> str:
    """The wave id an unknown wave's reference most likely meant: what comes before a known attribute."""
    if len(rest) > 1 and rest[-1] in WAVE_LIST_ATTRIBUTES:
        return ".".join(rest[:-1])
    if len(rest) > 3 and rest[-3] == "servers" and rest[-1] in SERVER_ATTRIBUTES:
        return ".".join(rest[:-3])
    return rest[0] if rest else ""


# ---- checks at plan load (raw data, like graph_problems) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Step:
    """A step of a raw wave that has parameters: its kind (preLaunch, postLaunch, healthCheck) and place."""

    kind: str
    path: str  # waves[i].postLaunch[j]
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class _PlanView:
    """What the reference checks read of a raw plan: its name, its waves' ids, dependencies and servers."""

    named: bool
    edges: dict[str, list[str]]
    servers: dict[str, set[str]]  # wave id -> the source server ids it lists
    selects: set[str]  # waves with sourceServerTags (their servers are known only at run time)


def _get(raw: Mapping[str, Any], camel: str, snake: str) -> Any:
    return raw[camel] if camel in raw else raw.get(snake)


def reference_problems(data: Mapping[str, Any]) -> list[Problem]:
    """Every reference problem of a loaded (possibly malformed) plan, each at the parameter's path (a list item's
    own path, `waves[1].postLaunch[0].parameters.Hosts[2]`, so the problem has that item's line). Problems: a
    malformed reference, an unknown root, an unknown attribute, an unknown wave, a wave not upstream of the step's,
    the step's own wave in a preLaunch step, a source server its wave does not list, `run.planName` in a plan
    without a `name`. Never raises."""
    raw_waves = data.get("waves")
    if not isinstance(raw_waves, list):
        return []
    texts = list(_referring(raw_waves))
    if not texts:
        return []  # a plan without references pays for the scan alone
    view, suggestions = _view(data, raw_waves), Suggestions()
    upstream = _Upstream(view.edges, _cyclic(view.edges))  # bitsets: linear in the plan, whatever its density
    problems: list[Problem] = []
    for wave_id, kind, path, text in texts:
        found = split_text(text, view.edges, suggestions)
        if isinstance(found, ReferenceProblem):
            problems.append(Problem(found.message, found.code, wave_id, path))
            continue
        for reference in (piece for piece in found if isinstance(piece, RunReference)):
            problem = _placement(reference, kind, wave_id, upstream, view)
            if problem is not None:
                problems.append(Problem(problem.message, problem.code, wave_id, path))
    return problems


def _referring(raw_waves: list[Any]) -> Iterator[tuple[str, str, str, str]]:
    """(wave id, step kind, path, text) of every parameter string of a wave with an id that holds `${{`."""
    for index, raw in enumerate(raw_waves):
        wave_id = _get(raw, "waveId", "wave_id") if isinstance(raw, dict) else None
        if isinstance(wave_id, str):
            for step in _steps(raw, index):
                for path, text in _strings(step):
                    yield wave_id, step.kind, path, text


def _cyclic(edges: dict[str, list[str]]) -> bool:
    try:
        TopologicalSorter(edges).prepare()
    except CycleError:
        return True  # reported on its own (graph_problems)
    return False


def _view(data: Mapping[str, Any], raw_waves: list[Any]) -> _PlanView:
    named = isinstance(data.get("name"), str) and bool(data["name"])
    view = _PlanView(named, {}, {}, set())
    for raw in raw_waves:
        wave_id = _get(raw, "waveId", "wave_id") if isinstance(raw, dict) else None
        if not isinstance(wave_id, str) or wave_id in view.edges:
            continue
        deps = _get(raw, "dependsOn", "depends_on")
        view.edges[wave_id] = [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []
        view.servers[wave_id] = set(_server_ids(raw.get("servers")))
        if _get(raw, "sourceServerTags", "source_server_tags"):
            view.selects.add(wave_id)
    for wave_id, deps in view.edges.items():  # an unknown dependency is reported on its own
        view.edges[wave_id] = [d for d in deps if d in view.edges]
    return view


def _server_ids(servers: Any) -> Iterator[str]:
    for server in servers if isinstance(servers, list) else []:
        server_id = _get(server, "sourceServerID", "source_server_id") if isinstance(server, dict) else server
        if isinstance(server_id, str):
            yield server_id


def _steps(raw_wave: Mapping[str, Any], index: int) -> Iterator[_Step]:
    """The wave's steps with parameters, then its `failback` ones (`waves[i].failback.postLaunch[j]`: a failback
    runs in the same dependency order, so the same references are in place)."""
    failback = raw_wave.get("failback")
    for prefix, raw in ((("waves", index), raw_wave), (("waves", index, "failback"), failback)):
        if not isinstance(raw, Mapping):
            continue
        for kind, snake in (("preLaunch", "pre_launch"), ("postLaunch", "post_launch")):
            steps = _get(raw, kind, snake)
            for position, step in enumerate(steps if isinstance(steps, list) else []):
                if isinstance(step, dict) and isinstance(step.get("parameters"), dict):
                    yield _Step(kind, join_path(*prefix, kind, position), step["parameters"])
        health = _get(raw, "healthCheck", "health_check")
        if isinstance(health, dict) and isinstance(health.get("parameters"), dict):
            yield _Step("healthCheck", join_path(*prefix, "healthCheck"), health["parameters"])


def _strings(step: _Step) -> Iterator[tuple[str, str]]:
    """(path, text) of every string of the step's parameters that holds `${{`."""
    for name, value in step.parameters.items():
        path = f"{step.path}.parameters.{name}"
        if isinstance(value, str) and has_references(value):
            yield path, value
        elif isinstance(value, list):
            for position, item in enumerate(value):
                if isinstance(item, str) and has_references(item):
                    yield f"{path}[{position}]", item


def _placement(
    reference: RunReference, kind: str, wave_id: str, upstream: _Upstream, view: _PlanView
) -> ReferenceProblem | None:
    """Whether the step (`kind`, of wave `wave_id`) may name what `reference` names."""
    target = reference.wave_id
    if target is None:
        if reference.attribute == "planName" and not view.named:
            return ReferenceProblem(
                f"'{quote(reference.text, 60)}' names the plan's name, and the plan has no `name`", "reference-no-value"
            )
        return None
    if target == wave_id and kind == "preLaunch":
        return ReferenceProblem(
            f"'{quote(reference.text, 60)}' names this step's own wave '{wave_id}' in a preLaunch step: nothing of it "
            "is recovered before its launch (name it in postLaunch or healthCheck, or name an upstream wave)",
            "reference-before-launch",
        )
    if target != wave_id and not upstream.is_upstream(target, wave_id):
        return ReferenceProblem(
            f"'{quote(reference.text, 60)}' names wave '{target}', which is not upstream of '{wave_id}' "
            f"({_upstream_text(wave_id, upstream)}): its instances may not exist when this step runs",
            "reference-not-upstream",
        )
    return _server_problem(reference, target, view)


def _server_problem(reference: RunReference, target: str, view: _PlanView) -> ReferenceProblem | None:
    server = reference.server_id
    if server is None or server in view.servers.get(target, set()) or target in view.selects:
        return None  # a wave that selects by tags may get the server at run time (an empty value fails the step)
    return ReferenceProblem(
        f"'{quote(reference.text, 60)}' names source server '{quote(server, 40)}', which wave '{target}' does not list",
        "unknown-reference-server",
    )


def _upstream_text(wave_id: str, graph: _Upstream) -> str:
    """The waves upstream of `wave_id` (at most 10 named), from the bitset when the graph has no cycle (linear in
    the waves, not the dependencies: a plan whose every step names a wave that is not upstream stays fast)."""
    if graph.bits is not None:
        bits = graph.bits[wave_id]
        upstream = {other for other, position in graph.index.items() if bits >> position & 1}
    else:
        upstream = graph.sets.setdefault(wave_id, ancestors(graph.edges, wave_id))
    if not upstream:
        return f"'{wave_id}' has no upstream wave"
    names = sorted(upstream)
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    return f"upstream of '{wave_id}': {shown}"
