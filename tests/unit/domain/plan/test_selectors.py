"""Waves that select their servers by DRS source-server tags: validation, the resolver that freezes the
selection, its errors (naming both places) and the provenance of every server."""

from __future__ import annotations

from typing import Any

import pytest

from events.models import Mode
from orchestrator.domain.plan import (
    Criticality,
    PlanError,
    Selection,
    check_plan,
    effective_launch_settings,
    has_selectors,
    parse_plan,
    plan_to_document,
    resolve_selectors,
)
from orchestrator.domain.plan.limits import MAX_SERVERS
from orchestrator.domain.plan.source import load_text
from tests.unit.domain.plan.conftest import server_id

DB = {"app": "shop", "tier": "db"}
WEB = {"app": "shop", "tier": "web"}


def _plan(*waves: dict[str, Any]) -> dict[str, Any]:
    return {"planId": "p", "waves": list(waves)}


def _problems(text: str) -> list[str]:
    with pytest.raises(PlanError) as caught:
        parse_plan(text, source="p.yaml")
    return [str(problem) for problem in caught.value.problems]


# ---- validation -------------------------------------------------------------------------------------------


def test_a_wave_may_select_its_servers_without_listing_any() -> None:
    # GIVEN a wave with only a selector (YAML read its number as an int)
    plan = parse_plan(_plan({"waveId": "db", "sourceServerTags": {"app": "shop", "tier": 1}}))

    # WHEN / THEN it loads, with no server yet, and the tag value as a string
    assert plan.waves[0].servers == []
    assert plan.waves[0].source_server_tags == {"app": "shop", "tier": "1"}
    assert has_selectors(plan)
    assert parse_plan(plan_to_document(plan)) == plan


def test_a_wave_with_neither_servers_nor_selector_is_still_empty() -> None:
    # GIVEN / WHEN a wave with nothing to launch
    plan, problems = check_plan(_plan({"waveId": "db"}))

    # THEN it is refused as before, with the selector in the hint
    assert plan is None
    assert [(p.code, p.path, p.message) for p in problems] == [
        (
            "empty-wave",
            "waves[0].servers",
            "the wave has no servers (a wave launches at least one source server: list it, or select by "
            "sourceServerTags)",
        )
    ]


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ("{}", "p.yaml:4: waves[0].sourceServerTags (wave db): sourceServerTags needs 1 to 50 tags, not 0"),
        (
            "{'': x}",
            "p.yaml:4: waves[0].sourceServerTags. (wave db): a tag key of 0 characters (DRS tag keys have 1 to 128)",
        ),
        (
            f"{{k: {'v' * 257}}}",
            "p.yaml:4: waves[0].sourceServerTags.k (wave db): a tag value of 257 characters (DRS tag values have at "
            "most 256)",
        ),
        (
            "{" + ", ".join(f"k{n}: v" for n in range(51)) + "}",
            "p.yaml:4: waves[0].sourceServerTags (wave db): sourceServerTags needs 1 to 50 tags, not 51",
        ),
    ],
    ids=["empty", "empty-key", "long-value", "51-tags"],
)
def test_malformed_selectors(tags: str, expected: str) -> None:
    # GIVEN a wave selecting by malformed tags (and listing a server, so it is not empty)
    text = f"planId: p\nwaves:\n  - waveId: db\n    sourceServerTags: {tags}\n    servers: [{server_id(1)}]\n"

    # WHEN / THEN
    assert _problems(text) == [expected]


def test_identical_or_nested_selectors_are_refused_statically() -> None:
    # GIVEN a wave with the same selector as an earlier one, and one whose selector holds every tag of another
    text = (
        "planId: p\nwaves:\n"
        "  - waveId: shop\n    sourceServerTags: {app: shop}\n"
        "  - waveId: db\n    sourceServerTags: {app: shop, tier: db}\n"
        "  - waveId: web\n    sourceServerTags: {tier: web}\n"
        "  - waveId: web2\n    sourceServerTags: {tier: web}\n"
    )

    # WHEN / THEN each later wave is refused on its selector's line, naming the earlier one
    assert _problems(text) == [
        "p.yaml:6: waves[1].sourceServerTags (wave db): the sourceServerTags of wave 'db' and of wave 'shop' "
        "(waves[0].sourceServerTags) overlap whatever the servers: every server wave 'db' selects, wave 'shop' "
        "selects too (add a tag that tells them apart)",
        "p.yaml:10: waves[3].sourceServerTags (wave web2): wave 'web2' has the same sourceServerTags as wave 'web' "
        "(waves[2].sourceServerTags): both select the same servers",
    ]


# ---- resolution -------------------------------------------------------------------------------------------

SERVERS = [
    (server_id(3), {**DB, "extra": "x"}),
    (server_id(2), DB),
    (server_id(1), DB),
    (server_id(5), WEB),
    (server_id(6), {"app": "other", "tier": "db"}),
    (server_id(7), None),
]


def test_the_selection_is_frozen_into_an_explicit_plan_with_provenance() -> None:
    # GIVEN a db wave that lists one of its tagged servers (with its own settings) and selects the rest, and a
    # web wave that only selects, under a successThreshold
    plan = parse_plan(
        _plan(
            {
                "waveId": "db",
                "sourceServerTags": DB,
                "launchSettings": {"subnetId": "subnet-0000000a"},
                "servers": [
                    {"sourceServerID": server_id(2), "launchSettings": {"privateIp": "10.0.0.9"}},
                    server_id(7),
                ],
            },
            {"waveId": "web", "dependsOn": ["db"], "sourceServerTags": WEB, "successThreshold": 0.5},
        )
    )

    # WHEN it is resolved against the account's source servers
    resolution = resolve_selectors(plan, SERVERS)

    # THEN every selected server is listed in its wave (in id order, after the listed ones), no selector is left
    assert resolution.problems == ()
    frozen = resolution.plan
    assert frozen is not None
    assert frozen.wave("db").server_ids == [server_id(2), server_id(7), server_id(1), server_id(3)]
    assert frozen.wave("web").server_ids == [server_id(5)]
    assert not has_selectors(frozen)
    assert "sourceServerTags" not in str(plan_to_document(frozen))
    # the selected servers take the wave's criticality rule, the listed server keeps its settings
    assert frozen.wave("web").servers[0].criticality is Criticality.OPTIONAL
    assert frozen.wave("db").servers[2].criticality is Criticality.CRITICAL
    listed = effective_launch_settings(frozen, "db", server_id(2), Mode.RECOVERY)
    selected = effective_launch_settings(frozen, "db", server_id(1), Mode.RECOVERY)
    assert (listed.subnet_id, listed.private_ip) == ("subnet-0000000a", "10.0.0.9")
    assert (selected.subnet_id, selected.private_ip) == ("subnet-0000000a", None)
    # and the provenance says why each server is there
    assert resolution.selections == (
        Selection("db", server_id(2), listed=True, selector=DB),
        Selection("db", server_id(7), listed=True, selector=None),
        Selection("db", server_id(1), listed=False, selector=DB),
        Selection("db", server_id(3), listed=False, selector=DB),
        Selection("web", server_id(5), listed=False, selector=WEB),
    )
    assert [selection.describe() for selection in resolution.selections] == [
        "listed (also selected by sourceServerTags app=shop, tier=db)",
        "listed",
        "selected by sourceServerTags app=shop, tier=db",
        "selected by sourceServerTags app=shop, tier=db",
        "selected by sourceServerTags app=shop, tier=web",
    ]
    # the frozen plan is a plan like any other: it reads back equal
    assert parse_plan(plan_to_document(frozen)) == frozen


def test_a_plan_without_selectors_comes_back_as_it_is() -> None:
    # GIVEN a plan that lists its servers
    plan = parse_plan(_plan({"waveId": "db", "servers": [server_id(1)]}))

    # WHEN it is resolved
    resolution = resolve_selectors(plan, SERVERS)

    # THEN it is the very same plan, each server listed
    assert resolution.plan is plan
    assert resolution.selections == (Selection("db", server_id(1), listed=True, selector=None),)
    assert resolution.problems == ()


_CONFLICTS = """planId: p
waves:
  - waveId: db
    servers:
      - {one}
    sourceServerTags: {{tier: db}}
  - waveId: shop
    sourceServerTags: {{app: shop}}
  - waveId: other
    sourceServerTags: {{app: nothing}}
"""


def test_conflicts_name_both_places_with_their_lines() -> None:
    # GIVEN a plan text: s-1 listed in db and selected by shop; s-2 selected by db and shop; a selector
    # that selects nothing
    text = _CONFLICTS.format(one=server_id(1))
    data, lines, _ = load_text(text)
    plan = parse_plan(data)

    # WHEN it is resolved with the text's lines
    resolution = resolve_selectors(
        plan,
        [(server_id(1), DB), (server_id(2), DB), (server_id(5), WEB)],
        lines=lines,
        source="p.yaml",
    )

    # THEN nothing is frozen, and each problem names both places
    assert resolution.plan is None
    assert [str(problem) for problem in resolution.problems] == [
        "p.yaml:8: waves[1].sourceServerTags (wave shop): source server 's-00000000000000001' is listed in wave "
        "'db' (waves[0].servers[0], line 5) and selected by the sourceServerTags of wave 'shop' "
        "(waves[1].sourceServerTags, line 8): a server launches in one wave (narrow a selector with one more tag, "
        "or list the server in one wave only)",
        "p.yaml:8: waves[1].sourceServerTags (wave shop): source server 's-00000000000000002' is selected by the "
        "sourceServerTags of wave 'db' (waves[0].sourceServerTags, line 6) and selected by the sourceServerTags of "
        "wave 'shop' (waves[1].sourceServerTags, line 8): a server launches in one wave (narrow a selector with one "
        "more tag, or list the server in one wave only)",
        "p.yaml:10: waves[2].sourceServerTags (wave other): the sourceServerTags of wave 'other' (app=nothing) "
        "select no source server (of the 3 there are)",
    ]
    assert [problem.code for problem in resolution.problems] == [
        "server-selected-twice",
        "server-selected-twice",
        "selector-selects-nothing",
    ]


def test_without_lines_the_places_are_paths() -> None:
    # GIVEN the same plan as a dict (a StartPlan's)
    plan = parse_plan(
        _plan(
            {"waveId": "db", "sourceServerTags": {"tier": "db"}},
            {"waveId": "shop", "sourceServerTags": {"app": "shop"}},
        )
    )

    # WHEN a server matches both selectors
    resolution = resolve_selectors(plan, [(server_id(2), DB)])

    # THEN the problem names both paths, and has no line
    assert [(p.line, p.wave_id, p.message) for p in resolution.problems] == [
        (
            None,
            "shop",
            "source server 's-00000000000000002' is selected by the sourceServerTags of wave 'db' "
            "(waves[0].sourceServerTags) and selected by the sourceServerTags of wave 'shop' "
            "(waves[1].sourceServerTags): a server launches in one wave (narrow a selector with one more tag, or "
            "list the server in one wave only)",
        )
    ]


def test_a_listed_server_its_own_selector_also_selects_is_one_server() -> None:
    # GIVEN a server listed in the wave whose selector also selects it
    plan = parse_plan(_plan({"waveId": "db", "sourceServerTags": DB, "servers": [server_id(1)]}))

    # WHEN / THEN it is in the wave once
    resolution = resolve_selectors(plan, [(server_id(1), DB)])
    assert resolution.plan is not None
    assert resolution.plan.wave("db").server_ids == [server_id(1)]


def test_tag_matching_is_exact_and_needs_every_tag() -> None:
    # GIVEN servers that carry some of the tags, or the tags in another case
    plan = parse_plan(_plan({"waveId": "db", "sourceServerTags": DB}))
    servers = [
        (server_id(1), {"app": "shop"}),
        (server_id(2), {"app": "Shop", "tier": "db"}),
        (server_id(3), {"App": "shop", "tier": "db"}),
        (server_id(4), {"app": "shop", "tier": "db "}),
        (server_id(5), DB),
    ]

    # WHEN / THEN only the server with every tag exactly is selected
    resolution = resolve_selectors(plan, servers)
    assert resolution.plan is not None
    assert resolution.plan.wave("db").server_ids == [server_id(5)]


def test_a_selectors_spaces_are_part_of_its_tags() -> None:
    # GIVEN a selector whose quoted key and value keep a space (DRS tags keep theirs: the console takes them)
    plan = parse_plan('planId: p\nwaves:\n  - waveId: db\n    sourceServerTags: {"tier ": " db"}\n')
    servers = [(server_id(1), {"tier": "db"}), (server_id(2), {"tier ": " db"})]

    # WHEN it is loaded and resolved
    resolution = resolve_selectors(plan, servers)

    # THEN the tags are as written, and select the server carrying exactly them, not the one without the spaces
    assert plan.waves[0].source_server_tags == {"tier ": " db"}
    assert resolution.plan is not None
    assert resolution.plan.wave("db").server_ids == [server_id(2)]


def test_more_servers_than_a_plan_may_have() -> None:
    # GIVEN a selector that matches more servers than a plan may hold
    plan = parse_plan(_plan({"waveId": "db", "sourceServerTags": {"app": "shop"}}))
    servers = [(f"s-{n:017d}", {"app": "shop"}) for n in range(MAX_SERVERS + 1)]

    # WHEN / THEN the resolution is refused
    resolution = resolve_selectors(plan, servers)
    assert resolution.plan is None
    assert [(p.code, p.message) for p in resolution.problems] == [
        ("too-many-servers", "the selectors make the plan 10,001 servers over all its waves (at most 10,000)")
    ]
