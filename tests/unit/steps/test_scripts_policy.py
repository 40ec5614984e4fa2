"""Unit: the pure parts of script execution (tick cadence, verdicts, the run context, output bounds)."""

from __future__ import annotations

from orchestrator.domain.plan import parse_plan
from orchestrator.domain.records.scripts import InvocationResult
from orchestrator.steps.scripts import (
    EVENT_INSTANCES,
    OUTPUT_EXCERPT,
    _event_instances,
    _excerpts,
    _instance_map,
    _verdict,
    phase_steps,
    poll_interval,
    retry_backoff,
)


def test_poll_ticks_back_off_and_retries_double_up_to_five_minutes():
    # GIVEN / WHEN / THEN polls come fast while a script is young, then every minute
    assert [poll_interval(t) for t in (1, 2, 3, 4, 8, 9, 30)] == [5, 10, 15, 30, 30, 60, 60]
    # AND the retry backoff doubles from 10 s and stops at 300 s
    assert [retry_backoff(n) for n in (1, 2, 3, 4, 5, 6, 10)] == [10, 20, 40, 80, 160, 300, 300]


def test_verdict_is_the_worst_invocation_status():
    # GIVEN per-instance statuses, THEN a failure outweighs a timeout, which outweighs a cancel
    assert _verdict(["Success", "Success"]) == "Success"
    assert _verdict(["Success", "Cancelled"]) == "Cancelled"
    assert _verdict(["Cancelled", "TimedOut", "Success"]) == "TimedOut"
    assert _verdict(["TimedOut", "Failed"]) == "Failed"
    assert _verdict([]) == "Failed"


def test_recovery_instances_parameter_maps_servers_to_instance_and_primary_ip():
    # GIVEN DescribeRecoveryInstances items
    items = [
        {
            "sourceServerID": "s-2",
            "ec2InstanceID": "i-2",
            "recoveryInstanceProperties": {
                "networkInterfaces": [
                    {"ips": ["10.0.0.9"], "isPrimary": False},
                    {"ips": ["10.0.0.2"], "isPrimary": True},
                ]
            },
        },
        {"sourceServerID": "s-1", "ec2InstanceID": "i-1", "recoveryInstanceProperties": {}},
    ]

    # WHEN mapped, THEN each server has its instance and primary private IP, in server order
    assert _instance_map(items) == {
        "s-1": {"instanceId": "i-1", "privateIp": ""},
        "s-2": {"instanceId": "i-2", "privateIp": "10.0.0.2"},
    }


def test_output_excerpts_are_bounded_per_instance_and_in_total():
    # GIVEN long outputs on few and on many instances
    few = [InvocationResult(instance_id=f"i-{n}", status="Failed", output="x" * 5000) for n in range(3)]
    many = [InvocationResult(instance_id=f"i-{n}", status="Failed", output="x" * 5000) for n in range(200)]

    # WHEN excerpted, THEN at most 1,000 characters each and at most the budget overall
    assert {len(i.output or "") for i in _excerpts(few, 20_000)} == {OUTPUT_EXCERPT}
    assert sum(len(i.output or "") for i in _excerpts(many, 20_000)) <= 20_000
    assert few[0].output == "x" * 5000  # the input is not changed


def test_health_check_runs_last_in_the_post_launch_phase():
    # GIVEN a wave with pre- and post-launch scripts and a health check
    plan = parse_plan(
        {
            "planId": "p",
            "waves": [
                {"waveId": "up", "servers": ["s-00000000000000001"]},
                {
                    "waveId": "w",
                    "dependsOn": ["up"],
                    "servers": ["s-00000000000000002"],
                    "preLaunch": [{"documentName": "pre", "targets": {"wave": "up"}}],
                    "postLaunch": [{"documentName": "post-1"}, {"documentName": "post-2"}],
                    "healthCheck": {"documentName": "health"},
                },
            ],
        }
    )

    # WHEN the phases are listed, THEN plan order, with the health check flagged and last
    wave = plan.wave("w")
    assert [(s.script.document_name, s.health_check) for s in phase_steps(wave, "PRE_LAUNCH")] == [("pre", False)]
    assert [(s.script.document_name, s.health_check) for s in phase_steps(wave, "POST_LAUNCH")] == [
        ("post-1", False),
        ("post-2", False),
        ("health", True),
    ]


def test_an_event_lists_at_most_fifty_instances_those_that_did_not_succeed_first():
    # GIVEN the results of a script on 120 instances, three of which failed (the last ones)
    instances = [
        InvocationResult(instance_id=f"i-{n:03d}", status="Failed" if n >= 117 else "Success") for n in range(120)
    ]

    # WHEN the instances a PostLaunchDone carries are chosen
    chosen = _event_instances(instances)

    # THEN fifty, the failed ones among them, in instance order; a few instances are all carried
    assert [i.instance_id for i in chosen] == [f"i-{n:03d}" for n in range(47)] + ["i-117", "i-118", "i-119"]
    assert len(chosen) == EVENT_INSTANCES == 50
    assert _event_instances(instances[:3]) == instances[:3]
