"""Every allowedPattern of the project's SSM documents (infra/ssm_documents/) admits printable ASCII only, and no
quote of either kind, backtick or backslash where its value is substituted into the script; parameters that carry
free text also reach the script as environment variables (interpolationType ENV_VAR); and the SSM simulator
applies allowedPattern and ENV_VAR as the SSM Agent does."""

from __future__ import annotations

import re
import re._constants as sre
import re._parser as sre_parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from localcloud.ssm_sim import LIBRARY_DIR, SsmSimulator, _admits

LIBRARY = sorted(LIBRARY_DIR.glob("*.yaml"))
#: The Command documents (scripts run on instances); the others are Automation runbooks (schemaVersion 0.3).
COMMAND_DOCUMENTS = [path for path in LIBRARY if yaml.safe_load(path.read_text())["schemaVersion"] == "2.2"]
PRINTABLE = frozenset(chr(c) for c in range(0x20, 0x7F))
#: Never admitted where a value is substituted into a script's quoted string: the ASCII quotes, the typographic
#: ones PowerShell also takes for quotes (U+2018..U+201E), the backtick (PowerShell's escape, bash's command
#: substitution) and the backslash.
IN_QUOTES = frozenset("'\"`\\\u2018\u2019\u201a\u201b\u201c\u201d\u201e")
#: Characters tried against every pattern: C0 controls, DEL, C1, non-ASCII spaces, quotes, letters and emoji.
PROBES = [chr(c) for c in (*range(0x20), 0x7F, 0x85, 0x9B, 0xA0, 0x2028, 0x202E, 0xFF07, 0x1F600)] + sorted(IN_QUOTES)
#: A value each pattern admits (the probes are put before, inside and after it).
SAMPLES = {
    "Target": "https://web.example/health?x=1",
    "ServiceName": "nginx",
    "ExpectedStatus": "200",
    "TimeoutSeconds": "300",
    "IntervalSeconds": "5",
    "executionTimeout": "3600",
    "ExecutionId": "e-1",
    "PlanId": "p",
    "WaveId": "db",
    "Mode": "DRILL",
    "RecoveryInstances": '{"s-00000000000000001":{"instanceId":"i-1","privateIp":"10.0.0.1"}}',
    # the DNS cutover runbook's (an Automation runbook: its values go to AWS APIs, not into a script)
    "HostedZoneId": "Z0123456789ABCDEFGHIJ",
    "RecordName": "shop.example.internal.",
    "Value": "10.20.0.31",
    "AutomationAssumeRole": "arn:aws:iam::123456789012:role/drs-orch-automation",
    # the other ready runbooks' (Automation runbooks too)
    "GlobalClusterIdentifier": "shop-global",
    "TargetDbClusterArn": "arn:aws:rds:us-east-1:123456789012:cluster:shop-recovery",
    "TargetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-web/0123456789abcdef",
    "InstanceIds": "i-0123456789abcdef0",
    "Cluster": "shop",
    "Service": "web",
}


def _placeholder(name: str) -> str:
    """`{{ name }}` as SSM finds it in a document (spaces optional)."""
    return r"\{\{\s*" + re.escape(name) + r"\s*\}\}"


def _patterns() -> list[tuple[str, str, str]]:
    return [
        (path.stem, name, str(spec["allowedPattern"]))
        for path in LIBRARY
        for name, spec in yaml.safe_load(path.read_text())["parameters"].items()
        if "allowedPattern" in spec
    ]


def _admitted(items: Any) -> set[str]:
    """The characters a parsed pattern can match; fails on a class that is not an explicit ASCII set (a negated
    class, `.`, `\\s`/`\\w`/`\\d`, a range or literal outside printable ASCII)."""
    found: set[str] = set()
    for op, arg in items:
        if op is sre.LITERAL:
            found.add(chr(arg))
        elif op is sre.IN:
            for inner, value in arg:
                assert inner in (sre.LITERAL, sre.RANGE), f"not an explicit ASCII class: {inner} {value}"
                found |= {chr(value)} if inner is sre.LITERAL else {chr(c) for c in range(value[0], value[1] + 1)}
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            found |= _admitted(arg[2])
        elif op is sre.SUBPATTERN:
            found |= _admitted(arg[-1])
        elif op is sre.BRANCH:
            for branch in arg[1]:
                found |= _admitted(branch)
        else:
            assert op is sre.AT, f"unexpected regex element {op} {arg}"
    return found


@pytest.mark.parametrize(("document", "name", "pattern"), _patterns(), ids=lambda v: str(v)[:40])
def test_every_allowed_pattern_admits_only_printable_ascii_and_no_quote_where_substituted(
    document: str, name: str, pattern: str
) -> None:
    # GIVEN a parameter's allowedPattern, and where the document substitutes its value ({{ name }})
    text = (LIBRARY_DIR / f"{document}.yaml").read_text()
    substituted = re.search(_placeholder(name), text) is not None
    # WHEN its character classes are read
    admitted = _admitted(sre_parse.parse(pattern))
    # THEN it is anchored at both ends, admits printable ASCII only, and no quote, backtick or backslash where
    # the value lands in the script
    assert (pattern[:1], pattern[-1:]) == ("^", "$")
    assert admitted <= PRINTABLE, sorted(admitted - PRINTABLE)
    if substituted:
        assert not admitted & IN_QUOTES, sorted(admitted & IN_QUOTES)
    # AND as the agent applies it, it admits the sample and refuses each probe before, inside and after it that
    # the classes above do not admit (a trailing newline included: `$` is the end of the text)
    sample = SAMPLES[name]
    assert _admits(pattern, sample)
    for probe in PROBES:
        if probe in admitted:
            continue
        for value in (probe + sample, sample[:1] + probe + sample[1:], sample + probe):
            assert not _admits(pattern, value), (pattern, value)


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_every_free_string_parameter_has_a_pattern_or_a_list_of_values(path: Path) -> None:
    # GIVEN a library document, THEN no String parameter admits any text (an Integer is typed already)
    for name, spec in yaml.safe_load(path.read_text())["parameters"].items():
        assert spec["type"] == "Integer" or "allowedPattern" in spec or "allowedValues" in spec, name


@pytest.mark.parametrize("path", COMMAND_DOCUMENTS, ids=lambda p: p.stem)
def test_env_var_parameters_are_read_from_the_environment_and_substituted_only_as_an_old_agents_fallback(
    path: Path,
) -> None:
    # GIVEN a library document's ENV_VAR parameters (the free-text ones)
    document = yaml.safe_load(path.read_text())
    env = [n for n, spec in document["parameters"].items() if spec.get("interpolationType") == "ENV_VAR"]
    assert "RecoveryInstances" in env
    for step in document["mainSteps"]:
        lines = step["inputs"]["runCommand"]
        for name in env:
            placeholder = re.compile(_placeholder(name))
            # THEN a step that uses one reads SSM_<name>, and {{ name }} appears only in the line that falls back
            # to it when the agent set no SSM_<name> (SSM Agent before 3.3.2746.0 ignores interpolationType)
            for line in lines:
                if placeholder.search(line):
                    assert f"SSM_{name}" in line, line
                    assert "+x}" in line or "$null -ne $env:" in line, line
    # AND the run context's JSON map, which has double quotes, is never substituted into a script
    assert not re.search(r"\{\{\s*RecoveryInstances\s*\}\}", path.read_text())


class _Clock:
    def now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC)


def test_the_simulator_sets_ssm_name_for_each_env_var_parameter_and_keeps_the_rest_out() -> None:
    # GIVEN the simulator with the library, and a Linux instance
    sim = SsmSimulator(_Clock())
    sim.load_library()
    sim.register_instance("i-0aaaaaaaaaaaaaaa1")
    client = sim.attach(
        __import__("boto3").client("ssm", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    )
    # WHEN a health check is sent with a Target and the run context
    sent = client.send_command(
        DocumentName="DRSOrch-HealthCheck",
        InstanceIds=["i-0aaaaaaaaaaaaaaa1"],
        Parameters={"Target": ["tcp://db:5432"], "Mode": ["DRILL"], "RecoveryInstances": ["{}"]},
    )["Command"]
    # THEN the command's environment holds SSM_<name> of the ENV_VAR parameters only
    assert sim._commands[sent["CommandId"]].environment == {
        "SSM_Target": "tcp://db:5432",
        "SSM_RecoveryInstances": "{}",
    }


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"type": "String", "interpolationType": "SHELL"}, "unsupported interpolationType SHELL"),
        ({"type": "StringList", "interpolationType": "ENV_VAR"}, "interpolationType ENV_VAR needs a String"),
    ],
)
def test_the_simulator_refuses_an_interpolation_ssm_does_not_have(spec: dict[str, str], error: str) -> None:
    # GIVEN / WHEN a document with such a parameter is registered THEN it is refused, naming the parameter
    with pytest.raises(ValueError, match=f"document D: parameter P.*{error}"):
        SsmSimulator(_Clock()).register_document("D", {"P": spec})


def test_the_simulator_reads_dollar_as_the_end_of_the_text_as_the_agents_go_regexp_does() -> None:
    # GIVEN / WHEN / THEN a trailing newline is refused by an anchored pattern, and `$` in a class stays literal
    assert (_admits("^[a-z]+$", "abc"), _admits("^[a-z]+$", "abc\n")) == (True, False)
    assert (_admits("^[a$]+$", "a$"), _admits("^[a$]+$", "a$\n")) == (True, False)
    # AND \d is ASCII, as Go's: an Arabic-Indic digit is not a digit
    assert (_admits(r"^\d+$", "12"), _admits(r"^\d+$", "1\u0662")) == (True, False)
