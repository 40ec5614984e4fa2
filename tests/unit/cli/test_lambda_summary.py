"""`drs-orch run`'s summary names a LAMBDA step's invocation by its request id (it ran on no instance)."""

from __future__ import annotations

from drs_orch.live_view import _script_lines


def test_a_lambda_step_shows_its_request_id_and_an_ssm_step_its_instances() -> None:
    # GIVEN a wave's scripts as the report has them: a LAMBDA step with its one result row, an SSM step on two
    wave = {
        "scripts": [
            {
                "phase": "POST_LAUNCH",
                "documentName": "LAMBDA dns-cutover",
                "status": "Success",
                "attempts": 1,
                "instances": [{"instanceId": "a26800f6-9860-4e9b-92df-8029b80f7859", "status": "Success"}],
            },
            {
                "phase": "POST_LAUNCH",
                "documentName": "DRSOrch-HealthCheck",
                "status": "Failed",
                "attempts": 2,
                "instances": [{"instanceId": "i-1", "status": "Failed"}, {"instanceId": "i-2", "status": "Success"}],
            },
        ]
    }

    # WHEN the summary lines are made
    lines = _script_lines(wave)

    # THEN the LAMBDA step names its request id, the SSM step counts its instances
    assert lines == [
        "    post-launch LAMBDA dns-cutover: [green]Success[/green] (request a26800f6-9860-4e9b-92df-8029b80f7859)",
        "    post-launch DRSOrch-HealthCheck: [red]Failed[/red] (2 instance(s), 2 tries)",
    ]
