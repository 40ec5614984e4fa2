"""`drs-orch run` when the run goes wrong (issue #11, faults 2(a), 5 and 9): it never prints a traceback,
says what is stuck, still writes the report, and a drill's time to live is done before the run ends."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import yaml
from typer.testing import CliRunner

from drs_orch.app import app
from localcloud.cloud import LocalCloud
from orchestrator.domain.clock import parse_iso

runner = CliRunner()


@pytest.fixture(autouse=True)
def log_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    monkeypatch.setenv("DRS_ORCH_LOG_DIR", str(logs))
    monkeypatch.delenv("DRS_ORCH_LOG_LEVEL", raising=False)
    return logs


def _write(tmp_path: Path, name: str, data: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def _three_waves(tmp_path: Path, **defaults: Any) -> Path:
    return _write(
        tmp_path,
        "three.yaml",
        {
            "planId": "three",
            **({"defaults": defaults} if defaults else {}),
            "waves": [
                {"waveId": "a", "servers": ["s-a0000000000000001", "s-a0000000000000002"]},
                {"waveId": "b", "dependsOn": ["a"], "servers": ["s-b0000000000000001"]},
                {"waveId": "c", "dependsOn": ["b"], "servers": ["s-c0000000000000001"]},
            ],
        },
    )


def _profile(tmp_path: Path, **drs: Any) -> Path:
    return _write(tmp_path, "profile.yaml", {"seed": 1, "drs": {"launchSeconds": {"min": 60, "max": 60}, **drs}})


def _flat(output: str) -> str:
    """The output as one line: Rich's boxes and line breaks removed."""
    return " ".join(re.sub("[│╭╮╰╯─]", " ", output).split())


def _execution_id(output: str) -> str:
    found = re.search(r"execution (three-[0-9a-f]{12})", output)
    assert found, output
    return found.group(1)


# ---- fault 2(a): a run that stalls -------------------------------------------------------------


def test_a_run_that_stalls_says_what_is_stuck_writes_the_report_and_exits_1(tmp_path, monkeypatch):
    # GIVEN a cloud that loses every WaveReady (the pre-launch function is never invoked): the first wave
    # stays READY and nothing is left running or scheduled
    original = LocalCloud._invoke_target

    def losing(self: LocalCloud, route: Any, event: dict[str, Any]) -> None:
        if route.target != "pre_launch":
            original(self, route, event)

    monkeypatch.setattr(LocalCloud, "_invoke_target", losing)
    report, picture = tmp_path / "report.json", tmp_path / "run.svg"

    # WHEN the plan runs
    result = runner.invoke(
        app,
        [
            "run",
            str(_three_waves(tmp_path)),
            "--sim",
            str(_profile(tmp_path)),
            "--report",
            str(report),
            "--timeline",
            str(picture),
        ],
    )

    # THEN it exits 1 with no traceback, saying which waves are stuck in which state
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    execution_id = _execution_id(result.output)
    flat = _flat(result.output)
    assert (
        f"the run stalled: nothing is running or scheduled, and execution {execution_id} is RUNNING: "
        "wave a READY; waves b, c PENDING"
    ) in flat
    # AND the report and the timeline hold what the ledger holds
    data = json.loads(report.read_text())
    assert data["executionId"] == execution_id
    assert data["status"] == "RUNNING"
    assert [(w["waveId"], w["status"]) for w in data["waves"]] == [("a", "READY"), ("b", "PENDING"), ("c", "PENDING")]
    assert data["endedAt"] is None
    texts = "".join(ElementTree.fromstring(picture.read_text()).itertext())
    assert all(f"wave {w}: {status}" in texts for w, status in (("a", "READY"), ("b", "PENDING"), ("c", "PENDING")))


def test_every_drs_call_throttled_ends_without_a_traceback_and_with_the_report(tmp_path):
    # GIVEN the input: three waves, every DRS call throttled for the whole run
    report = tmp_path / "report.json"

    # WHEN the plan runs
    result = runner.invoke(
        app,
        [
            "run",
            str(_three_waves(tmp_path)),
            "--sim",
            str(_profile(tmp_path, throttleRate=1.0)),
            "--report",
            str(report),
        ],
    )

    # THEN it exits 1, prints no traceback, and the report is written; the summary shows the ledger's
    # status of the execution and of each wave, which the report holds too
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    data = json.loads(report.read_text())
    assert data["status"] != "COMPLETED"
    flat = _flat(result.output)
    assert f"execution {data['executionId']}: {data['status']}" in flat
    for wave in data["waves"]:
        assert f"{wave['waveId']}: {wave['status']} (0/{len(wave['servers'])} servers" in flat
    assert all(s["launchStatus"] != "LAUNCHED" for w in data["waves"] for s in w["servers"])


def test_an_exception_in_the_run_loop_is_one_line_and_a_log_and_the_report_is_still_written(
    tmp_path, monkeypatch, log_dir
):
    # GIVEN a cloud whose loop raises once wave a's DRS job has started
    original = LocalCloud.step

    def failing(self: LocalCloud) -> Any:
        outcome = original(self)
        if any(e.detail_type == "DRSJobStarted" for e in self.events):
            raise RuntimeError("boom [i-0123456789abcdef0]")
        return outcome

    monkeypatch.setattr(LocalCloud, "step", failing)
    report = tmp_path / "report.json"

    # WHEN the plan runs
    result = runner.invoke(
        app, ["run", str(_three_waves(tmp_path)), "--sim", str(_profile(tmp_path)), "--report", str(report)]
    )

    # THEN it exits 1 with the error in one line (its markup-like text intact), what is stuck, and the log
    # file that holds the traceback; no traceback on the console
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    execution_id = _execution_id(result.output)
    flat = _flat(result.output)
    assert (
        f"the local cloud failed (RuntimeError: boom [i-0123456789abcdef0]): execution {execution_id} is "
        "RUNNING: wave a LAUNCHING; waves b, c PENDING"
    ) in flat
    log = log_dir / f"drs-orch-{execution_id}.log"
    assert f"the traceback is in {log}" in flat
    text = log.read_text()
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: boom [i-0123456789abcdef0]" in text
    # AND the report holds the ledger's state at that moment
    data = json.loads(report.read_text())
    assert [(w["waveId"], w["status"]) for w in data["waves"]] == [
        ("a", "LAUNCHING"),
        ("b", "PENDING"),
        ("c", "PENDING"),
    ]


def test_an_output_file_that_cannot_be_written_is_refused_before_the_run(tmp_path, monkeypatch):
    # GIVEN a report path in a directory that does not exist
    report = tmp_path / "missing" / "report.json"
    # WHEN the plan is run with it
    result = runner.invoke(app, ["run", str(_three_waves(tmp_path)), "--report", str(report)])
    # THEN nothing starts: exit 2 naming the directory
    assert result.exit_code == 2, result.output
    assert f"{report}: no such directory {report.parent}; nothing was started." in _flat(result.output)
    assert "execution three-" not in result.output
    # AND so is a log directory that does not exist
    monkeypatch.setenv("DRS_ORCH_LOG_DIR", str(tmp_path / "no-logs"))
    no_logs = runner.invoke(app, ["run", str(_three_waves(tmp_path))])
    assert no_logs.exit_code == 2, no_logs.output
    assert (
        f"{tmp_path / 'no-logs'} (the log directory, $DRS_ORCH_LOG_DIR): no such directory; nothing was started."
    ) in _flat(no_logs.output)


# ---- fault 5: a drill's time to live, in a local run -------------------------------------------


def test_a_drill_with_a_time_to_live_runs_until_its_instances_are_terminated(tmp_path, log_dir):
    # GIVEN a drill whose instances live 600 s (and --linger, which takes control commands afterwards)
    report = tmp_path / "report.json"
    plan = _three_waves(tmp_path, drillInstanceTtlSeconds=600)

    # WHEN it runs on the local cloud
    result = runner.invoke(
        app,
        [
            "run",
            str(plan),
            "--sim",
            str(_profile(tmp_path)),
            "--report",
            str(report),
            "--linger",
            "0.2",
            "--log-level",
            "INFO",
        ],
    )

    # THEN the plan completed, and the run went on until the time to live terminated every instance the
    # drill launched, once, recorded in the report with its reason, time, instances and DRS job
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["status"] == "COMPLETED"
    launched = sorted(s["recoveryInstanceId"] for w in data["waves"] for s in w["servers"])
    assert len(launched) == 4
    assert len(data["terminations"]) == 1
    termination = data["terminations"][0]
    assert termination["reason"] == "TIME_TO_LIVE"
    assert termination["waveId"] is None
    assert termination["recoveryInstanceIds"] == launched
    assert len(termination["jobIds"]) == 1
    since_launch = (parse_iso(termination["at"]) - parse_iso(data["waves"][0]["launchStartedAt"])).total_seconds()
    assert 599 <= since_launch <= 601  # Scheduler fires to the second
    assert parse_iso(termination["at"]) > parse_iso(data["endedAt"])
    assert [e["detailType"] for e in data["events"]][-2:] == ["TerminationTick", "RecoveryInstancesTerminated"]
    # AND the plan's duration is its own, from its start to its end (not the time to live, not the linger)
    assert data["durationSeconds"] == (parse_iso(data["endedAt"]) - parse_iso(data["startedAt"])).total_seconds()
    assert data["durationSeconds"] < 600
    flat = _flat(result.output)
    assert (
        f"terminated 4 of 4 recovery instance(s) of the execution at {termination['at'][11:19]} (TIME_TO_LIVE"
    ) in flat
    assert "LEFT RUNNING" not in flat
    # AND the run's log, at INFO, is in the log directory
    log = (log_dir / f"drs-orch-{data['executionId']}.log").read_text()
    assert '"message":"plan started"' in log
    assert '"message":"recovery instances terminated"' in log


def test_cleanup_is_recorded_in_the_report(local_cloud):
    # GIVEN a drill that completed and left its instances running
    from localcloud.runner import run_plan
    from orchestrator.domain.plan import parse_plan
    from orchestrator.reporting.report import build_report

    cloud = local_cloud()
    plan = parse_plan({"planId": "cleanup", "waves": [{"waveId": "A", "servers": ["s-a0000000000000001"]}]})
    result = run_plan(cloud, plan)
    instance = result.report["waves"][0]["servers"][0]["recoveryInstanceId"]
    assert result.report["terminations"] == []

    # WHEN an operator cleans it up
    cleaned = runner.invoke(app, ["cleanup", result.execution_id])
    assert cleaned.exit_code == 0, cleaned.output

    # THEN the report records the termination: why, when, which instance, which DRS job
    terminations = build_report(cloud.runtime.ledger, result.execution_id)["terminations"]
    job_id = re.search(r"DRS job\(s\) (drsjob-[0-9a-f]+)", _flat(cleaned.output)).group(1)
    assert terminations == [
        {
            "reason": "CLEANUP",
            "at": terminations[0]["at"],
            "waveId": None,
            "recoveryInstanceIds": [instance],
            "jobIds": [job_id],
        }
    ]
    assert parse_iso(terminations[0]["at"]) >= parse_iso(result.report["endedAt"])


# ---- fault 9: --linger and the run's duration, the log level ----------------------------------


def test_lingering_does_not_add_to_the_duration_the_run_shows(tmp_path):
    # GIVEN a fast clock (600 simulated seconds per real second) and --linger 1
    profile = _write(
        tmp_path, "fast.yaml", {"seed": 1, "clock": {"speed": 600}, "drs": {"launchSeconds": {"min": 60, "max": 60}}}
    )
    report = tmp_path / "report.json"

    # WHEN the plan runs and lingers a real second (600 simulated seconds) after it ends
    result = runner.invoke(
        app, ["run", str(_three_waves(tmp_path)), "--sim", str(profile), "--linger", "1", "--report", str(report)]
    )

    # THEN the summary's duration and the report's are the plan's own, and (off a terminal: plain progress lines)
    # the lingering second prints no progress line after the execution's end
    assert result.exit_code == 0, result.output
    seconds = json.loads(report.read_text())["durationSeconds"]
    shown = f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    assert f"simulated duration {shown}" in result.output
    progress = [line for line in result.output.splitlines() if re.match(r"\d\d:\d\d:\d\d ", line)]
    assert re.fullmatch(r"\d\d:\d\d:\d\d execution \S+ COMPLETED", progress[-1]), progress
    assert sum(1 for line in progress if line.endswith(" COMPLETED") and " execution " in line) == 1


def test_log_level_is_checked_and_the_level_chosen_applies(tmp_path, monkeypatch, log_dir):
    # GIVEN an unknown level, as an option and in the environment
    plan = _three_waves(tmp_path)
    bad_option = runner.invoke(app, ["run", str(plan), "--log-level", "LOUD"])
    monkeypatch.setenv("DRS_ORCH_LOG_LEVEL", "loud")
    bad_variable = runner.invoke(app, ["run", str(plan)])
    # THEN each exits 2 naming it, and nothing started
    assert bad_option.exit_code == 2
    assert "--log-level 'LOUD' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL" in _flat(bad_option.output)
    assert bad_variable.exit_code == 2
    assert "$DRS_ORCH_LOG_LEVEL 'LOUD' is not one of" in _flat(bad_variable.output)
    assert list(log_dir.iterdir()) == []

    # WHEN a run's level is ERROR (from the environment)
    monkeypatch.setenv("DRS_ORCH_LOG_LEVEL", "error")
    quiet = runner.invoke(app, ["run", str(plan), "--sim", str(_profile(tmp_path))])
    # THEN its log file holds no INFO line
    assert quiet.exit_code == 0, quiet.output
    assert "log (ERROR): " in quiet.output
    assert (log_dir / f"drs-orch-{_execution_id(quiet.output)}.log").read_text() == ""
