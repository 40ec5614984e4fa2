"""Servers chosen by tag: a wave's `sourceServerTags` selects every DRS source server that carries all of
those tags (exact keys and values, case-sensitive, as DRS stores them), besides the servers it lists.

The selection is resolved once, when an execution starts, and frozen into it: `resolve_selectors` turns a
plan and the account's source servers into the same plan with every selected server listed in its wave and
no selector left (the frozen plan a run launches, whatever the tags become), plus the provenance of every
server (`Selection`: listed, or which selector picked it) for the report.

A listed server is in its wave whether its tags match or not; listing a server that the wave's own selector
also picks is how a selected server gets its own settings (criticality, snapshot, launch settings). Errors,
each naming both places: a server selected by two waves; a server listed in one wave and selected by
another; a selector that selects nothing. Two selectors of which one holds every tag of the other always
overlap (or one selects nothing): `selector_problems` refuses them statically, with the plan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from orchestrator.domain.plan.limits import MAX_SERVERS
from orchestrator.domain.plan.model import Plan, Wave, plan_to_document
from orchestrator.domain.plan.problems import Problem, join_path
from orchestrator.domain.plan.source import Lines, line_of
from orchestrator.domain.plan.suggest import quote

#: A DRS source server as the resolver needs it: its id and its tags (DescribeSourceServers `tags`).
SourceServer = tuple[str, Mapping[str, str] | None]


@dataclass(frozen=True)
class Selection:
    """Why a server is in its wave: `listed` in its `servers`, and/or picked by the wave's `selector` (its
    sourceServerTags, when the server's tags match them; None otherwise)."""

    wave_id: str
    source_server_id: str
    listed: bool
    selector: Mapping[str, str] | None = None

    def describe(self) -> str:
        """`listed`, `selected by sourceServerTags app=shop, tier=db`, or `listed (also selected by ...)`."""
        if self.selector is None:
            return "listed"
        picked = f"sourceServerTags {render_tags(self.selector)}"
        return f"listed (also selected by {picked})" if self.listed else f"selected by {picked}"


@dataclass(frozen=True)
class Resolution:
    """The frozen plan (None when there are problems), every server's provenance in plan order, and the
    problems (each with its path, and its line when the plan's lines were given)."""

    plan: Plan | None
    selections: tuple[Selection, ...]
    problems: tuple[Problem, ...]


def render_tags(tags: Mapping[str, str]) -> str:
    """`app=shop, tier=db` (keys in order), cut short for a message."""
    return quote(", ".join(f"{key}={value}" for key, value in sorted(tags.items())), 200)


def has_selectors(plan: Plan) -> bool:
    """Whether any wave selects servers by tag (only then must the account's source servers be read)."""
    return any(wave.source_server_tags for wave in plan.waves)


def selects(selector: Mapping[str, str], tags: Mapping[str, str] | None) -> bool:
    """Whether a server with `tags` carries every tag of `selector`."""
    found = tags or {}
    return all(key in found and found[key] == value for key, value in selector.items())


def _selector_path(index: int) -> str:
    return join_path("waves", index, "sourceServerTags")


def selector_problems(waves: Iterable[tuple[int, Wave]]) -> list[Problem]:
    """Selectors that overlap whatever the servers: one that holds every tag of an earlier wave's selects
    only servers that one selects too. `waves`: (index in the plan, wave) of the well-formed waves."""
    selecting = [
        (index, wave, frozenset(wave.source_server_tags.items())) for index, wave in waves if wave.source_server_tags
    ]
    found: list[Problem] = []
    for position, (index, wave, tags) in enumerate(selecting):
        for earlier_index, earlier, earlier_tags in selecting[:position]:
            if not (tags <= earlier_tags or earlier_tags <= tags):
                continue
            where = f"wave '{earlier.wave_id}' ({_selector_path(earlier_index)})"
            if tags == earlier_tags:
                message = (
                    f"wave '{wave.wave_id}' has the same sourceServerTags as {where}: both select the same servers"
                )
            else:
                narrow, broad = (wave, earlier) if earlier_tags <= tags else (earlier, wave)
                message = (
                    f"the sourceServerTags of wave '{wave.wave_id}' and of {where} overlap whatever the servers: every "
                    f"server wave '{narrow.wave_id}' selects, wave '{broad.wave_id}' selects too (add a tag that tells "
                    "them apart)"
                )
            found.append(Problem(message, "overlapping-selectors", wave.wave_id, _selector_path(index)))
            break
    return found


class _Resolver:
    def __init__(self, plan: Plan, source_servers: Iterable[SourceServer], lines: Lines | None) -> None:
        self.plan = plan
        self.lines = lines
        self.tags: dict[str, Mapping[str, str]] = {}
        for server_id, tags in source_servers:
            self.tags.setdefault(server_id, dict(tags or {}))
        self.listed: dict[str, tuple[int, int]] = {}  # server -> (wave index, position in servers)
        for index, wave in enumerate(plan.waves):
            for position, server in enumerate(wave.servers):
                self.listed.setdefault(server.source_server_id, (index, position))
        self.matched: dict[str, list[int]] = defaultdict(list)  # server -> indexes of the waves selecting it
        self.by_wave: dict[int, list[str]] = defaultdict(list)  # wave index -> servers its selector selects

    def place(self, path: str) -> str:
        line = line_of(self.lines, path)
        return path if line is None else f"{path}, line {line}"

    def match(self) -> None:
        index_by_tag: dict[tuple[str, str], list[str]] = defaultdict(list)
        for server_id, tags in sorted(self.tags.items()):
            for item in tags.items():
                index_by_tag[item].append(server_id)
        for index, wave in enumerate(self.plan.waves):
            selector = wave.source_server_tags
            if not selector:
                continue
            candidates = min((index_by_tag.get(item, []) for item in selector.items()), key=len)
            for server_id in candidates:
                if selects(selector, self.tags[server_id]):
                    self.matched[server_id].append(index)
                    self.by_wave[index].append(server_id)

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        for server_id, indexes in sorted(self.matched.items()):
            found.extend(self._conflicts(server_id, indexes))
        for index, wave in enumerate(self.plan.waves):
            if wave.source_server_tags and not self.by_wave[index]:
                found.append(
                    Problem(
                        f"the sourceServerTags of wave '{wave.wave_id}' ({render_tags(wave.source_server_tags)}) "
                        f"select no source server (of the {len(self.tags)} there are)",
                        "selector-selects-nothing",
                        wave.wave_id,
                        _selector_path(index),
                    )
                )
        order = {wave.wave_id: index for index, wave in enumerate(self.plan.waves)}
        return sorted(found, key=lambda problem: (order.get(problem.wave_id or "", -1), problem.message))

    def _conflicts(self, server_id: str, indexes: list[int]) -> list[Problem]:
        waves = self.plan.waves
        if server_id in self.listed:
            home, position = self.listed[server_id]
            first = (
                f"listed in wave '{waves[home].wave_id}' ({self.place(join_path('waves', home, 'servers', position))})"
            )
            others = [index for index in indexes if index != home]
        else:
            home, others = indexes[0], indexes[1:]
            first = (
                f"selected by the sourceServerTags of wave '{waves[home].wave_id}' ({self.place(_selector_path(home))})"
            )
        return [
            Problem(
                f"source server '{server_id}' is {first} and selected by the sourceServerTags of wave "
                f"'{waves[index].wave_id}' ({self.place(_selector_path(index))}): a server launches in one wave "
                "(narrow a selector with one more tag, or list the server in one wave only)",
                "server-selected-twice",
                waves[index].wave_id,
                _selector_path(index),
            )
            for index in others
        ]

    def selections(self) -> list[Selection]:
        found: list[Selection] = []
        for index, wave in enumerate(self.plan.waves):
            selector = wave.source_server_tags
            for server in wave.servers:
                tags = self.tags.get(server.source_server_id)
                picked = selector if selector and tags is not None and selects(selector, tags) else None
                found.append(Selection(wave.wave_id, server.source_server_id, True, picked))
            listed = set(wave.server_ids)
            found.extend(
                Selection(wave.wave_id, server_id, False, selector)
                for server_id in self.by_wave[index]
                if server_id not in listed
            )
        return found


def resolve_selectors(
    plan: Plan,
    source_servers: Iterable[SourceServer],
    *,
    lines: Lines | None = None,
    source: str | None = None,
) -> Resolution:
    """Freeze the plan's tag selection against `source_servers` (the account's DRS source servers as
    (id, tags)): the plan with every selected server appended to its wave's `servers` (in id order, without
    a criticality: CRITICAL, or OPTIONAL under a successThreshold) and no `sourceServerTags`, the provenance
    of every server, and the problems. A plan without selectors comes back as it is. `lines` (the plan
    text's path -> line table) puts lines on the problems and in their messages; `source` names the file."""
    resolver = _Resolver(plan, source_servers, lines)
    if not has_selectors(plan):
        return Resolution(plan, tuple(resolver.selections()), ())
    resolver.match()
    problems = [
        Problem(p.message, p.code, p.wave_id, p.path, line_of(lines, p.path), source) for p in resolver.problems()
    ]
    selections = tuple(resolver.selections())
    if not problems and len(selections) > MAX_SERVERS:
        message = (
            f"the selectors make the plan {len(selections):,} servers over all its waves (at most {MAX_SERVERS:,})"
        )
        problems.append(Problem(message, "too-many-servers", path="waves", source=source))
    if problems:
        return Resolution(None, selections, tuple(problems))
    document = plan_to_document(plan)
    for index, wave in enumerate(document["waves"]):
        if wave.pop("sourceServerTags", None) is None:
            continue
        listed = set(plan.waves[index].server_ids)
        wave["servers"] = [
            *wave.get("servers", []),
            *({"sourceServerID": server_id} for server_id in resolver.by_wave[index] if server_id not in listed),
        ]
    return Resolution(Plan.model_validate(document), selections, ())
