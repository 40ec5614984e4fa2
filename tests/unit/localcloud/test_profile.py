"""Simulation profiles: every key camelCase, every mistake named by its camelCase key path, every fault
mapped onto the simulators."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from localcloud.drs_sim_config import DrsQuotas, DrsServerSettings, DrsSimConfig, OutsideJob
from localcloud.profile import ProfileError, load_profile
from localcloud.ssm_sim_config import SsmSimConfig

S1 = "s-1000000000000000a"
README = Path(__file__).resolve().parents[3] / "README.md"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            f"drs:\n  servers:\n    {S1}: {{lagSeconds: -1}}\n",
            f"drs.servers.{S1}.lagSeconds: Input should be greater than or equal to 0",
        ),
        (
            f"drs:\n  servers:\n    {S1}: {{replicationState: SLEEPING}}\n",
            f"drs.servers.{S1}.replicationState: Input should be 'STOPPED', 'INITIATING', 'INITIAL_SYNC', 'BACKLOG', "
            "'CREATING_SNAPSHOT', 'CONTINUOUS', 'PAUSED', 'RESCAN', 'STALLED' or 'DISCONNECTED'",
        ),
        ("drs:\n  throttleRate: 2\n", "drs.throttleRate: Input should be less than or equal to 1"),
        ("drs:\n  retryAfterSeconds: 0\n", "drs.retryAfterSeconds: Input should be greater than or equal to 1"),
        (
            "drs:\n  quotas: {serversPerJob: 0}\n",
            "drs.quotas.serversPerJob: Input should be greater than or equal to 1",
        ),
        ("drs:\n  launchSeconds: {min: 10, max: 1}\n", "drs.launchSeconds: min (10 s) must not exceed max (1 s)"),
        ("drs:\n  launchSeconds: {min: 1000}\n", "drs.launchSeconds: min (1000 s) must not exceed max (900 s)"),
        ("drs:\n  pageSize: 0\n", "drs.pageSize: Input should be greater than or equal to 1"),
        (
            "drs:\n  outsideJobs: [{durationSeconds: 60}]\n",
            "drs.outsideJobs.0: an outside job holds servers, otherServers or both",
        ),
        (
            f"drs:\n  outsideJobs: [{{servers: [{S1}], jobs: 2}}]\n",
            "drs.outsideJobs.0: a source server is in one job at a time: jobs above 1 take otherServers only",
        ),
        (
            "drs:\n  outsideJobs: [{servers: [web01]}]\n",
            "drs.outsideJobs.0.servers.0: String should match pattern '^s-[0-9a-zA-Z]{17}$'",
        ),
        (
            "ssm:\n  documents:\n    X: {durationSeconds: -5}\n",
            "ssm.documents.X.durationSeconds: Input should be greater than or equal to 0",
        ),
        (
            "ssm:\n  instances:\n    i-1: {pingStatus: Asleep}\n",
            "ssm.instances.i-1.pingStatus: Input should be 'Online', 'ConnectionLost' or 'Inactive'",
        ),
        (
            "ssm:\n  agentOnlineAfterSeconds: -1\n",
            "ssm.agentOnlineAfterSeconds: Input should be greater than or equal to 0",
        ),
        (
            "ssm:\n  allowedDocuments: [DRSOrch-*, 'AWS-Run*Shell']\n",
            "ssm.allowedDocuments: malformed entry 'AWS-Run*Shell' (a document name or ARN, or a prefix of one ending "
            "in '*'; entries are separated by commas)",
        ),
        (
            "ssm:\n  allowedDocuments: ['DRSOrch-*,AWS-RunShellScript']\n",
            "ssm.allowedDocuments: one document or prefix per entry, not 'DRSOrch-*,AWS-RunShellScript'",
        ),
        ("faults:\n  reorderDelivery: 1.5\n", "faults.reorderDelivery: Input should be less than or equal to 1"),
        # no infinity and no overflowing number (each crashed the clock or the approver with OverflowError)
        ("clock:\n  speed: .inf\n", "clock.speed: Input should be a finite number"),
        ("clock:\n  speed: 1e308\n", "clock.speed: Input should be less than or equal to 1000000"),
        ("approvals:\n  afterSeconds: .inf\n", "approvals.afterSeconds: Input should be a finite number"),
        ("drs:\n  launchSeconds: {min: 1, max: .inf}\n", "drs.launchSeconds.max: Input should be a finite number"),
        (
            "ssm:\n  documents:\n    X: {durationSeconds: .nan}\n",
            "ssm.documents.X.durationSeconds: Input should be a finite number",
        ),
    ],
)
def test_a_wrong_value_is_named_by_its_camel_case_path(tmp_path: Path, text: str, problem: str) -> None:
    # GIVEN a profile with one wrong value
    path = _write(tmp_path, text)
    # WHEN it is loaded THEN the error names the key as the file spells it
    with pytest.raises(ProfileError) as raised:
        load_profile(path)
    assert str(raised.value) == f"{path}: {problem}"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "drs:\n  throttleRat: 0.1\n",
            "drs.throttleRat: unknown key (allowed here: failback, initialized, launchEvents, "
            "launchSeconds, outsideJobs, pageSize, quotas, recoveryPlans, retryAfterSeconds, seed, servers, "
            "snapshotsPerServer, stagingAccounts, startDelaySeconds, terminateFailureRate, terminateSeconds, "
            "throttleRate)",
        ),
        (
            f"drs:\n  servers:\n    {S1}: {{lag_seconds: 5}}\n",
            f"drs.servers.{S1}.lag_seconds: unknown key (allowed "
            "here: lagSeconds, launch, launchConfiguration, launchSeconds, launchTemplate, privateIp, "
            "replicationState, tags, terminate)",
        ),
        (
            "drs:\n  quotas: {serverPerJob: 1}\n",
            "drs.quotas.serverPerJob: unknown key (allowed here: concurrentJobs, serversInAllJobs, serversPerJob, "
            "sourceServers)",
        ),
        (
            "ssm:\n  documents:\n    X: {failon: []}\n",
            "ssm.documents.X.failon: unknown key (allowed here: durationSeconds, failOn, status)",
        ),
        (
            "faults:\n  duplicate_delivery: 0.5\n",
            "faults.duplicate_delivery: unknown key (allowed here: "
            "assumeRoleRefused, crashAfterStartRecovery, duplicateDelivery, reorderDelivery)",
        ),
    ],
)
def test_an_unknown_or_snake_case_key_is_named_with_the_keys_allowed_there(
    tmp_path: Path, text: str, problem: str
) -> None:
    # GIVEN a typo, or a snake_case key in the camelCase file
    path = _write(tmp_path, text)
    # WHEN it is loaded THEN the error names it at its path and lists what is allowed there
    with pytest.raises(ProfileError) as raised:
        load_profile(path)
    assert str(raised.value) == f"{path}: {problem}"


def test_every_problem_of_a_profile_is_named_at_once(tmp_path: Path) -> None:
    # GIVEN two wrong values in two sections
    path = _write(tmp_path, "drs:\n  throttleRate: 2\nssm:\n  defaultDurationSeconds: -1\n")
    # WHEN it is loaded THEN both are named
    with pytest.raises(ProfileError) as raised:
        load_profile(path)
    assert str(raised.value) == (
        f"{path}: drs.throttleRate: Input should be less than or equal to 1; "
        "ssm.defaultDurationSeconds: Input should be greater than or equal to 0"
    )


def test_the_section_builders_name_camel_case_paths_too() -> None:
    # GIVEN / WHEN a section is built directly THEN its ValueError names the path from the section's name
    with pytest.raises(ValueError, match=re.escape(f"drs.servers.{S1}.lagSeconds: Input should be greater")):
        DrsSimConfig.from_profile({"servers": {S1: {"lagSeconds": -3}}})
    with pytest.raises(ValueError, match=re.escape("ssm.documents.X.durationSeconds: Input should be greater")):
        SsmSimConfig.from_profile({"documents": {"X": {"durationSeconds": -3}}})


def test_every_fault_maps_onto_the_simulators(tmp_path: Path) -> None:
    # GIVEN a profile using every fault
    path = _write(
        tmp_path,
        f"""
seed: 9
drs:
  pageSize: 2
  terminateFailureRate: 0.25
  quotas: {{concurrentJobs: 5}}
  servers:
    {S1}: {{terminate: FAILED, lagSeconds: 30}}
    s-2000000000000000a:
  outsideJobs:
    - {{servers: [{S1}], durationSeconds: 900}}
    - {{jobs: 3, otherServers: 20, atSeconds: 60}}
ssm:
  agentOnlineAfterSeconds: 120
faults:
  reorderDelivery: 0.3
""",
    )

    # WHEN it is loaded
    profile = load_profile(path)
    drs, ssm = profile.drs_config(), profile.ssm_config()

    # THEN each lands where the simulators read it; unset values keep their defaults, the seed is shared
    assert (drs.seed, drs.page_size, drs.terminate_failure_rate) == (9, 2, 0.25)
    assert drs.quotas == DrsQuotas(concurrent_jobs=5)
    assert drs.servers == {
        S1: DrsServerSettings(terminate="FAILED", lag_seconds=30),
        "s-2000000000000000a": DrsServerSettings(),
    }
    assert drs.outside_jobs == (
        OutsideJob(servers=(S1,), duration_seconds=900),
        OutsideJob(jobs=3, other_servers=20, at_seconds=60),
    )
    assert (drs.launch_seconds_min, drs.launch_seconds_max, drs.throttle_rate) == (300, 900, 0)
    assert (ssm.seed, ssm.agent_online_after_seconds, ssm.default_duration_seconds) == (9, 120, 5)
    assert profile.faults.reorder_delivery == 0.3
    assert profile.faults.duplicate_delivery == 0


def test_the_readme_profile_example_loads(tmp_path: Path) -> None:
    # GIVEN the example under README's "Simulation profile" heading
    section = README.read_text().split("### Simulation profile", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    # WHEN it is loaded THEN it is valid and shows the faults
    profile = load_profile(_write(tmp_path, example))
    assert profile.drs.page_size < 1000
    assert profile.drs.outside_jobs
    assert profile.drs.terminate_failure_rate > 0
    assert profile.ssm.agent_online_after_seconds > 0
    assert profile.faults.reorder_delivery > 0
    assert [account.account_id for account in profile.accounts] == ["222233334444", "123456789012"]
    assert profile.faults.assume_role_refused == ["222233334444"]


@pytest.mark.parametrize(
    ("ssm", "allowed"),
    [
        # the deployed default, plus the documents only the profile defines (the simulated account's own); a
        # behaviour given to a library or AWS-owned document allows nothing more
        (
            {
                "documents": {
                    "erp-smoke-test": {"status": "Failed"},
                    "DRSOrch-HealthCheck": None,
                    "AWS-RunShellScript": None,
                }
            },
            ["DRSOrch-*", "erp-smoke-test"],
        ),
        ({}, ["DRSOrch-*"]),
        # an explicit list is the whole list
        (
            {"documents": {"erp-smoke-test": None}, "allowedDocuments": ["AWS-RunShellScript"]},
            ["AWS-RunShellScript"],
        ),
        ({"allowedDocuments": []}, []),
    ],
)
def test_the_local_clouds_allow_list_is_the_profiles_or_the_default_and_the_profiles_own_documents(
    ssm: dict[str, object], allowed: list[str]
) -> None:
    # GIVEN a profile's ssm section / WHEN the local cloud is built (not started)
    from localcloud.cloud import LocalCloud

    cloud = LocalCloud(load_profile(None, ssm=ssm))
    # THEN the ALLOWED_SSM_DOCUMENTS its functions get is the profile's list, else the default and its documents
    assert cloud.allowed_documents() == allowed
