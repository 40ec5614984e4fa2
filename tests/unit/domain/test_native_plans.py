"""Native DRS recovery plans in and out (orchestrator/domain/plan/native.py): SERVER steps become a chain of
waves with their criticality and WAIT steps WAIT steps of those waves, dependency layers (and the waits their
waves begin with) become steps, and everything a native plan cannot express is listed exactly (a diamond's
flattening above all)."""

from __future__ import annotations

from typing import Any

import pytest

from orchestrator.domain.plan import parse_plan
from orchestrator.domain.plan.native import (
    NativePlan,
    NativePlanError,
    NativeServer,
    NativeStep,
    export_plan,
    import_native,
    name_problem,
    native_plan,
)

PREFIX = "arn:aws:drs:us-east-1:123456789012:source-server/"


def sid(prefix: str, n: int) -> str:
    return "s-" + f"{prefix}{n}".rjust(17, "0")


def arn(server_id: str) -> str:
    return PREFIX + server_id


def server_step(name: str, *servers: tuple[str, str]) -> NativeStep:
    return NativeStep(name, tuple(NativeServer(arn(s), level) for s, level in servers))


def arns_of(plan: Any) -> dict[str, str]:
    return {s: arn(s) for wave in plan.waves for s in wave.server_ids}


DB, APP1, APP2, WEB = sid("d", 1), sid("a", 1), sid("a", 2), sid("w", 1)


# ---------------------------------------------------------------------- native -> ours


def test_server_steps_become_a_chain_of_waves_with_each_servers_criticality() -> None:
    # GIVEN a native plan of three SERVER steps (one server OPTIONAL)
    native = NativePlan(
        "Shop DR",
        (
            server_step("Databases", (DB, "CRITICAL")),
            server_step("App tier", (APP1, "CRITICAL"), (APP2, "OPTIONAL")),
            server_step("Web", (WEB, "CRITICAL")),
        ),
        description="three tiers",
    )

    # WHEN it is imported
    imported = import_native(native)

    # THEN each step is a wave depending on the one before, its servers keeping their impact level
    assert imported.document == {
        "planId": "Shop-DR",
        "name": "Shop DR",
        "description": "three tiers",
        "waves": [
            {
                "waveId": "Databases",
                "name": "Databases",
                "servers": [{"sourceServerID": DB, "criticality": "CRITICAL"}],
            },
            {
                "waveId": "App-tier",
                "name": "App tier",
                "dependsOn": ["Databases"],
                "servers": [
                    {"sourceServerID": APP1, "criticality": "CRITICAL"},
                    {"sourceServerID": APP2, "criticality": "OPTIONAL"},
                ],
            },
            {
                "waveId": "Web",
                "name": "Web",
                "dependsOn": ["App-tier"],
                "servers": [{"sourceServerID": WEB, "criticality": "CRITICAL"}],
            },
        ],
    }
    assert imported.waits == 0
    # AND the plan is valid, stops on a failed wave (as a failed native step ends the execution), and runs in order
    plan = imported.plan
    assert [(w.wave_id, w.depends_on, w.on_failure.value) for w in plan.waves] == [
        ("Databases", [], "STOP"),
        ("App-tier", ["Databases"], "STOP"),
        ("Web", ["App-tier"], "STOP"),
    ]


def test_wait_steps_become_wait_steps_of_the_wave_of_the_next_server_step_or_after_the_last() -> None:
    # GIVEN a native plan: SERVER db, WAIT 10 minutes, SERVER web, WAIT 5 minutes
    native = NativePlan(
        "shop",
        (
            server_step("db", (DB, "CRITICAL")),
            NativeStep("settle", wait_minutes=10),
            server_step("web", (WEB, "OPTIONAL")),
            NativeStep("cool down", wait_minutes=5),
        ),
    )

    # WHEN it is imported
    imported = import_native(native)

    # THEN the 10 minutes are web's pre-launch wait, and the last 5 minutes web's post-launch wait
    assert imported.document == {
        "planId": "shop",
        "name": "shop",
        "waves": [
            {"waveId": "db", "name": "db", "servers": [{"sourceServerID": DB, "criticality": "CRITICAL"}]},
            {
                "waveId": "web",
                "name": "web",
                "dependsOn": ["db"],
                "servers": [{"sourceServerID": WEB, "criticality": "OPTIONAL"}],
                "preLaunch": [{"type": "WAIT", "seconds": 600}],
                "postLaunch": [{"type": "WAIT", "seconds": 300}],
            },
        ],
    }
    assert imported.waits == 2
    assert [s.name for s in imported.plan.wave("web").pre_launch] == ["WAIT 600 s"]


def test_consecutive_and_leading_waits_stay_in_order_before_their_server_step() -> None:
    # GIVEN waits before the first SERVER step, and two in a row before the second (the longest native wait too)
    native = NativePlan(
        "shop",
        (
            NativeStep("first pause", wait_minutes=1),
            server_step("db", (DB, "CRITICAL")),
            NativeStep("settle", wait_minutes=120),
            NativeStep("and more", wait_minutes=2),
            server_step("web", (WEB, "OPTIONAL")),
        ),
    )

    # WHEN it is imported THEN each SERVER step's wave begins with its waits, in the native order
    plan = import_native(native, plan_id="shop-v2").plan
    assert plan.plan_id == "shop-v2"
    assert [(w.wave_id, w.depends_on, [s.seconds for s in w.pre_launch], w.post_launch) for w in plan.waves] == [
        ("db", [], [60], []),
        ("web", ["db"], [7200, 120], []),
    ]


def test_step_names_that_repeat_or_are_not_wave_ids_become_unique_wave_ids() -> None:
    native = NativePlan(
        "x",
        (
            server_step("tier 1", (DB, "CRITICAL")),
            server_step("tier 1", (APP1, "CRITICAL")),
            server_step("-", (WEB, "CRITICAL")),
        ),
    )
    waves = import_native(native).plan.waves
    assert [(w.wave_id, w.name) for w in waves] == [("tier-1", "tier 1"), ("tier-1-2", "tier 1"), ("step-3", "-")]


def test_a_plan_of_wait_steps_only_has_nothing_to_launch() -> None:
    with pytest.raises(NativePlanError, match=r"^native plan .idle. has no SERVER step: there is nothing to launch$"):
        import_native(NativePlan("idle", (NativeStep("w", wait_minutes=5),)))


def test_the_api_answer_is_read_in_step_order() -> None:
    plan = {"recoveryPlanArn": "arn:aws:drs:us-east-1:123456789012:recovery-plan/rp-1", "name": "p", "tags": {"a": "b"}}
    steps = [
        {"stepOrder": 2, "stepName": "w", "configuration": {"waitStepConfiguration": {"waitDurationMinutes": 3}}},
        {
            "stepOrder": 1,
            "stepName": "s",
            "configuration": {"serverStepConfiguration": {"servers": [{"serverArn": arn(DB)}]}},
        },
    ]
    native = native_plan(plan, steps)
    assert native.steps == (server_step("s", (DB, "CRITICAL")), NativeStep("w", wait_minutes=3))
    assert (native.arn, dict(native.tags)) == (plan["recoveryPlanArn"], {"a": "b"})


# ---------------------------------------------------------------------- ours -> native

DIAMOND = {
    "planId": "diamond",
    "waves": [
        {"waveId": "A", "servers": [sid("a", 1)]},
        {"waveId": "B", "dependsOn": ["A"], "servers": [sid("b", 1), sid("b", 2)]},
        {"waveId": "C", "dependsOn": ["A"], "servers": [{"sourceServerID": sid("c", 1), "criticality": "OPTIONAL"}]},
        {"waveId": "D", "dependsOn": ["B", "C"], "servers": [sid("d", 1)]},
    ],
}


def test_a_diamond_becomes_its_three_layers_and_its_flattening_is_explained() -> None:
    # GIVEN a diamond: A, then B and C in parallel, then D
    plan = parse_plan(DIAMOND)

    # WHEN it is exported
    export = export_plan(plan, arns_of(plan))

    # THEN the native plan holds its layers in order, B and C in one step
    assert [(s.name, [x.server_arn for x in s.servers]) for s in export.steps] == [
        ("A", [arn(sid("a", 1))]),
        ("B and C", [arn(sid("b", 1)), arn(sid("b", 2)), arn(sid("c", 1))]),
        ("D", [arn(sid("d", 1))]),
    ]
    assert [x.impact_level for x in export.steps[1].servers] == ["CRITICAL", "CRITICAL", "OPTIONAL"]
    # AND the flattening is the one thing it cannot express
    assert export.unexpressible == [
        "layer 2: waves B, C are parallel branches; they become one step 'B and C' that launches their servers "
        "together and ends when all of them have"
    ]


def test_layering_that_makes_a_wave_wait_for_another_branch_says_so() -> None:
    # GIVEN two independent chains A -> B and X -> Y -> Z
    plan = parse_plan(
        {
            "planId": "two-chains",
            "waves": [
                {"waveId": "A", "servers": [sid("a", 1)]},
                {"waveId": "B", "dependsOn": ["A"], "servers": [sid("b", 1)]},
                {"waveId": "X", "servers": [sid("x", 1)]},
                {"waveId": "Y", "dependsOn": ["X"], "servers": [sid("y", 1)]},
                {"waveId": "Z", "dependsOn": ["Y"], "servers": [sid("z", 1)]},
            ],
        }
    )
    export = export_plan(plan, arns_of(plan))
    assert [s.name for s in export.steps] == ["A and X", "B and Y", "Z"]
    assert export.unexpressible == [
        "layer 1: waves A, X are parallel branches; they become one step 'A and X' that launches their servers "
        "together and ends when all of them have",
        "layer 2: waves B, Y are parallel branches; they become one step 'B and Y' that launches their servers "
        "together and ends when all of them have",
        "wave B also waits for X, which it does not depend on (a native step starts after every step before it)",
        "wave Y also waits for A, which it does not depend on (a native step starts after every step before it)",
        "wave Z also waits for A, B, which it does not depend on (a native step starts after every step before it)",
    ]


def test_everything_a_native_step_has_no_place_for_is_listed_wave_by_wave() -> None:
    script = {"documentName": "DRSOrch-HealthCheck"}
    plan = parse_plan(
        {
            "planId": "rich",
            "defaults": {"requireApprovalInRecovery": True, "drillInstanceTtlSeconds": 3600},
            "waves": [
                {
                    "waveId": "db",
                    "servers": [{"sourceServerID": DB, "recoverySnapshotID": "pit-" + "0" * 17}],
                    "preLaunch": [script],
                    "approval": {"required": True},
                    "rollback": "TERMINATE",
                },
                {
                    "waveId": "app",
                    "dependsOn": ["db"],
                    "servers": [APP1, APP2],
                    "postLaunch": [script],
                    "healthCheck": script,
                    "successThreshold": 0.5,
                    "onFailure": "CONTINUE",
                    "launchSettings": {"instanceType": "m5.large"},
                },
            ],
        }
    )
    assert export_plan(plan, arns_of(plan)).unexpressible == [
        "wave db: preLaunch script DRSOrch-HealthCheck (native steps run no scripts)",
        "wave db: approval (native steps have no approvals)",
        f"wave db: recoverySnapshotID of servers {DB} (native steps launch the latest snapshot)",
        "wave db: rollback TERMINATE (a native step leaves the instances of a failed step running)",
        "wave app: postLaunch script DRSOrch-HealthCheck (native steps run no scripts)",
        "wave app: healthCheck DRSOrch-HealthCheck (native steps run no scripts)",
        "wave app: launchSettings (native steps launch each server as its DRS launch settings stand)",
        "wave app: successThreshold 0.5 (exported as impact levels only: 2 OPTIONAL server(s), whose failures never "
        "fail the step)",
        "wave app: onFailure CONTINUE (a failed native step ends the execution)",
        "defaults.requireApprovalInRecovery: native steps have no approvals",
        "defaults.drillInstanceTtlSeconds: a native drill leaves its instances running",
    ]


def test_a_layer_of_more_than_100_servers_is_cut_into_steps_that_run_one_after_the_other() -> None:
    servers = [sid("m", n) for n in range(250)]
    plan = parse_plan({"planId": "big", "waves": [{"waveId": "all", "servers": servers}]})
    export = export_plan(plan, arns_of(plan))
    assert [(s.name, len(s.servers)) for s in export.steps] == [
        ("all part 1 of 3", 84),
        ("all part 2 of 3", 83),
        ("all part 3 of 3", 83),
    ]
    assert [x.server_arn for s in export.steps for x in s.servers] == [arn(s) for s in servers]
    assert export.unexpressible == [
        "layer 1 (all) has 250 servers: cut into 3 steps of at most 100 that launch one after the other, not together"
    ]


def test_more_than_20_steps_is_refused() -> None:
    waves = [
        {"waveId": f"w{n}", "servers": [sid("c", n)], **({"dependsOn": [f"w{n - 1}"]} if n else {})} for n in range(21)
    ]
    plan = parse_plan({"planId": "long", "waves": waves})
    with pytest.raises(NativePlanError) as excinfo:
        export_plan(plan, arns_of(plan))
    assert str(excinfo.value) == (
        "plan 'long' needs 21 native steps (21 dependency layers, of at most 100 servers per step); a native "
        "recovery plan has at most 20"
    )
    # AND 20 chained waves fit
    assert len(export_plan(parse_plan({"planId": "ok", "waves": waves[:20]}), arns_of(plan)).steps) == 20


def test_a_server_the_account_does_not_have_is_refused() -> None:
    plan = parse_plan(DIAMOND)
    arns = arns_of(plan)
    del arns[sid("c", 1)]
    with pytest.raises(NativePlanError, match=f"^source servers not found in the account and Region: {sid('c', 1)}$"):
        export_plan(plan, arns)


def test_an_exported_chain_imports_back_to_the_same_plan() -> None:
    native = NativePlan("shop", (server_step("db", (DB, "CRITICAL")), server_step("web", (WEB, "OPTIONAL"))))
    plan = import_native(native).plan
    export = export_plan(plan, arns_of(plan))
    assert (tuple(export.steps), export.unexpressible) == (native.steps, [])


def test_an_imported_plan_with_waits_exports_back_to_the_same_steps() -> None:
    # GIVEN a native plan SERVER, WAIT 10, SERVER, WAIT 5, imported
    native = NativePlan(
        "shop",
        (
            server_step("db", (DB, "CRITICAL")),
            NativeStep("settle", wait_minutes=10),
            server_step("web", (WEB, "OPTIONAL")),
            NativeStep("cool down", wait_minutes=5),
        ),
    )
    plan = import_native(native).plan

    # WHEN it is exported again
    export = export_plan(plan, arns_of(plan))

    # THEN it is the same native plan (the waits named after the step they are next to), with nothing lost
    assert [(s.name, s.configuration()) for s in export.steps] == [
        (s.name, s.configuration())
        for s in (
            server_step("db", (DB, "CRITICAL")),
            NativeStep("Wait before web", wait_minutes=10),
            server_step("web", (WEB, "OPTIONAL")),
            NativeStep("Wait after web", wait_minutes=5),
        )
    ]
    assert export.unexpressible == []


def test_waits_alike_in_a_layer_export_once_and_every_other_wait_is_listed_with_why() -> None:
    # GIVEN a diamond whose parallel B and C both begin with 2 minutes, and waits a native plan cannot hold
    wait = {"type": "WAIT", "seconds": 120}
    plan = parse_plan(
        {
            "planId": "waits",
            "waves": [
                {"waveId": "A", "servers": [sid("a", 1)], "postLaunch": [wait]},
                {"waveId": "B", "dependsOn": ["A"], "servers": [sid("b", 1)], "preLaunch": [wait]},
                {
                    "waveId": "C",
                    "dependsOn": ["A"],
                    "servers": [sid("c", 1)],
                    "preLaunch": [wait, {"type": "WAIT", "seconds": 90}, {"documentName": "DRSOrch-Fence"}, wait],
                },
                {
                    "waveId": "D",
                    "dependsOn": ["B", "C"],
                    "servers": [sid("d", 1)],
                    "preLaunch": [{"type": "WAIT", "seconds": 60}],
                    "postLaunch": [{"type": "WAIT", "seconds": 180}],
                },
                {"waveId": "E", "dependsOn": ["B"], "servers": [sid("e", 1)], "preLaunch": [wait]},
            ],
        }
    )

    # WHEN it is exported
    export = export_plan(plan, arns_of(plan))

    # THEN B's and C's common 2 minutes wait once before their step; D's and E's differ, so neither is kept
    assert [(s.name, s.kind, s.wait_minutes) for s in export.steps] == [
        ("A", "SERVER", None),
        ("Wait before B and C", "WAIT", 2),
        ("B and C", "SERVER", None),
        ("D and E", "SERVER", None),
    ]
    assert [line for line in export.unexpressible if "WAIT" in line] == [
        "wave A: postLaunch WAIT 120 s (only the last wave's post-launch waits are exported: wait in the pre-launch "
        "of the waves after it)",
        "wave C: preLaunch WAIT 90 s (a native WAIT step is whole minutes, 1 to 120)",
        "wave C: preLaunch WAIT 120 s (it follows a script, and native steps run no scripts: a native wait comes only "
        "between steps)",
        "wave D: preLaunch WAIT 60 s (the waves of its layer do not begin with the same waits, and their one SERVER "
        "step waits once)",
        "wave D: postLaunch WAIT 180 s (only the last wave's post-launch waits are exported: wait in the pre-launch "
        "of the waves after it)",
        "wave E: preLaunch WAIT 120 s (the waves of its layer do not begin with the same waits, and their one SERVER "
        "step waits once)",
    ]


def test_wait_steps_count_toward_the_20_native_steps() -> None:
    # GIVEN 10 chained waves, each beginning with a 1-minute wait: 20 steps; an 11th wave makes 22
    waves = [
        {
            "waveId": f"w{n}",
            "servers": [sid("c", n)],
            "preLaunch": [{"type": "WAIT", "seconds": 60}],
            **({"dependsOn": [f"w{n - 1}"]} if n else {}),
        }
        for n in range(11)
    ]
    fits = parse_plan({"planId": "ok", "waves": waves[:10]})
    assert len(export_plan(fits, arns_of(fits)).steps) == 20
    plan = parse_plan({"planId": "long", "waves": waves})
    with pytest.raises(NativePlanError) as excinfo:
        export_plan(plan, arns_of(plan))
    assert str(excinfo.value) == (
        "plan 'long' needs 22 native steps (11 dependency layers, of at most 100 servers per step and 11 WAIT steps); "
        "a native recovery plan has at most 20"
    )


@pytest.mark.parametrize(
    ("name", "valid"), [("Shop DR_1-a", True), ("shop.v2", False), ("-shop", False), ("", False), ("x" * 257, False)]
)
def test_native_names(name: str, valid: bool) -> None:
    assert (name_problem(name) is None) is valid
