"""The SSM document allow-list and the parameter check (orchestrator/domain/plan/documents.py): pure functions."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from orchestrator.config import Settings
from orchestrator.domain.plan import Problem, parse_plan
from orchestrator.domain.plan.documents import (
    DEFAULT_ALLOWED_DOCUMENTS,
    MAX_DOCUMENTS,
    AllowList,
    DocumentParameters,
    disallowed_documents,
    documents_to_describe,
    parameter_problems,
)
from tests.unit.domain.plan.conftest import server_id


def _plan(**wave: Any) -> Any:
    return parse_plan({"planId": "p", "waves": [{"waveId": "db", "servers": [server_id(1)], **wave}]})


@pytest.mark.parametrize(
    ("text", "document", "allowed"),
    [
        ("DRSOrch-*", "DRSOrch-HealthCheck", True),
        ("DRSOrch-*", "DRSOrch-", True),
        ("DRSOrch-*", "drsorch-HealthCheck", False),  # names are case-sensitive, as SSM's
        ("DRSOrch-*", "AWS-RunShellScript", False),
        ("DRSOrch-*", "arn:aws:ssm:us-east-1:123456789012:document/DRSOrch-HealthCheck", False),
        ("DRSOrch-*, AWS-RunShellScript", "AWS-RunShellScript", True),
        ("AWS-RunShellScript", "AWS-RunShellScriptX", False),  # an exact name is not a prefix
        ("arn:aws:ssm:us-east-1:123456789012:document/*", "arn:aws:ssm:us-east-1:123456789012:document/Mine", True),
        ("*", "AWS-RunPowerShellScript", True),
        ("", "DRSOrch-HealthCheck", False),
        (" , ", "DRSOrch-HealthCheck", False),
    ],
)
def test_the_allow_list_matches_exact_names_and_prefixes(text: str, document: str, allowed: bool) -> None:
    # GIVEN an allow-list / WHEN a document is asked / THEN it is allowed exactly when an entry matches it
    assert AllowList.parse(text).allows(document) is allowed


@pytest.mark.parametrize("text", ["DRS*Orch", "a b", "a;b", "**", "DRSOrch-?", "x" * 257])
def test_a_malformed_allow_list_is_refused_by_the_parser_and_by_the_settings_alike(text: str) -> None:
    # GIVEN a malformed value / WHEN it is parsed, or read as the setting at a cold start / THEN both refuse it
    with pytest.raises(ValueError, match="ALLOWED_SSM_DOCUMENTS: malformed entry"):
        AllowList.parse(text)
    with pytest.raises(ValidationError, match="ALLOWED_SSM_DOCUMENTS"):
        Settings(ALLOWED_SSM_DOCUMENTS=text)


@pytest.mark.parametrize("text", ["DRSOrch-*", " a , b* ", "", "*", "a,,b,", "arn:aws:ssm:eu-west-1:1:document/X"])
def test_a_well_formed_allow_list_is_taken_by_the_parser_and_the_settings_alike(text: str) -> None:
    # GIVEN a well-formed value / WHEN it is parsed and read as the setting / THEN both take it
    assert Settings(ALLOWED_SSM_DOCUMENTS=text).allowed_ssm_documents == text
    assert AllowList.parse(text).entries == tuple(e.strip() for e in text.split(",") if e.strip())


def test_the_setting_defaults_to_the_projects_own_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN no ALLOWED_SSM_DOCUMENTS in the environment / WHEN the settings are read
    monkeypatch.delenv("ALLOWED_SSM_DOCUMENTS", raising=False)
    allowed = AllowList.parse(Settings().allowed_ssm_documents)
    # THEN only DRSOrch-* documents are allowed
    assert (allowed.entries, str(allowed)) == (("DRSOrch-*",), "DRSOrch-*")
    assert Settings().allowed_ssm_documents == DEFAULT_ALLOWED_DOCUMENTS  # the CLI's and the local cloud's default
    assert str(AllowList.parse("")) == "none"


def test_every_script_outside_the_allow_list_is_named_with_its_wave_step_and_path() -> None:
    # GIVEN a plan with pre-launch, post-launch and health-check scripts, two outside the allow-list
    plan = _plan(
        preLaunch=[
            {"documentName": "DRSOrch-WaitForSsmAgent", "targets": {"instanceIds": ["i-00000000000000001"]}},
            {"documentName": "AWS-RunShellScript", "parameters": {"commands": ["id"]}, "targets": {"tags": {"A": "b"}}},
        ],
        postLaunch=[{"documentName": "DRSOrch-HealthCheck"}],
        healthCheck={"documentName": "Custom-Check"},
    )
    # WHEN it is checked against the default allow-list
    found = disallowed_documents(plan, AllowList.parse("DRSOrch-*"))
    # THEN each disallowed script is one problem, in plan order
    assert found == [
        Problem(
            "pre-launch step #2 of wave 'db' runs SSM document 'AWS-RunShellScript', which is not in the SSM document "
            "allow-list (DRSOrch-*): plans may run only the documents the deploy setting ALLOWED_SSM_DOCUMENTS lists",
            "document-not-allowed",
            "db",
            "waves[0].preLaunch[1].documentName",
        ),
        Problem(
            "health check of wave 'db' runs SSM document 'Custom-Check', which is not in the SSM document allow-list "
            "(DRSOrch-*): plans may run only the documents the deploy setting ALLOWED_SSM_DOCUMENTS lists",
            "document-not-allowed",
            "db",
            "waves[0].healthCheck.documentName",
        ),
    ]
    # AND only the allowed documents are to be described, each once
    assert documents_to_describe(plan, AllowList.parse("DRSOrch-*")) == [
        "DRSOrch-WaitForSsmAgent",
        "DRSOrch-HealthCheck",
    ]


def test_parameters_are_checked_against_what_the_document_declares() -> None:
    # GIVEN scripts of a document that requires Target and ServiceName (and declares the run context, required)
    plan = _plan(
        postLaunch=[
            {"documentName": "Doc", "parameters": {"Target": "x", "ServiceName": "y"}},  # right
            {"documentName": "Doc", "parameters": {"Target": "x", "ServiceName": "y", "Bogus": "z"}},
            {"documentName": "Doc", "parameters": {"Target": "x"}},
            {"documentName": "Doc"},
        ]
    )
    declared = DocumentParameters(
        frozenset({"Target", "ServiceName", "ExecutionId", "RecoveryInstances"}),
        frozenset({"Target", "ServiceName", "ExecutionId", "RecoveryInstances"}),
    )
    # WHEN the parameters are checked
    found = parameter_problems(plan, {"Doc": declared})
    # THEN the unknown and the missing ones are named (the run context is never missing: the run passes it)
    assert [(p.code, p.path, p.message) for p in found] == [
        (
            "unknown-parameter",
            "waves[0].postLaunch[1].parameters.Bogus",
            "post-launch step #2 of wave 'db': parameter 'Bogus' is not declared by SSM document 'Doc' "
            "(declares: ExecutionId, RecoveryInstances, ServiceName, Target)",
        ),
        (
            "missing-parameter",
            "waves[0].postLaunch[2].parameters",
            "post-launch step #3 of wave 'db': SSM document 'Doc' requires parameter 'ServiceName' (it has no default)",
        ),
        (
            "missing-parameter",
            "waves[0].postLaunch[3]",
            "post-launch step #4 of wave 'db': SSM document 'Doc' requires parameter 'ServiceName' (it has no default)",
        ),
        (
            "missing-parameter",
            "waves[0].postLaunch[3]",
            "post-launch step #4 of wave 'db': SSM document 'Doc' requires parameter 'Target' (it has no default)",
        ),
    ]


def test_a_document_without_parameters_or_that_cannot_be_read_and_one_not_described() -> None:
    # GIVEN scripts of a document declaring nothing, one that cannot be read, and one not described at all
    plan = _plan(
        preLaunch=[{"documentName": "Bare", "parameters": {"x": "1"}, "targets": {"instanceIds": ["i-0000000a"]}}],
        postLaunch=[{"documentName": "Gone"}, {"documentName": "Unlisted", "parameters": {"anything": "1"}}],
    )
    # WHEN the parameters are checked
    found = parameter_problems(plan, {"Bare": DocumentParameters(frozenset()), "Gone": "InvalidDocument: no such"})
    # THEN the first two are named, the third is not checked
    assert [(p.code, p.path, p.message) for p in found] == [
        (
            "unknown-parameter",
            "waves[0].preLaunch[0].parameters.x",
            "pre-launch step #1 of wave 'db': parameter 'x' is not declared by SSM document 'Bare' (declares no "
            "parameter)",
        ),
        (
            "unknown-document",
            "waves[0].postLaunch[0].documentName",
            "post-launch step #1 of wave 'db': SSM document 'Gone' cannot be read: InvalidDocument: no such",
        ),
    ]


def test_describe_document_parameters_without_a_default_value_are_required() -> None:
    # GIVEN DescribeDocument's Parameters of AWS-RunShellScript (an empty DefaultValue is a default)
    described: list[dict[str, object]] = [
        {"Name": "commands", "Type": "StringList", "Description": "(Required) Specify a shell script."},
        {"Name": "workingDirectory", "Type": "String", "Description": "(Optional)", "DefaultValue": ""},
        {"Name": "executionTimeout", "Type": "String", "Description": "(Optional)", "DefaultValue": "3600"},
    ]
    # WHEN they are read
    parameters = DocumentParameters.from_described(described)
    # THEN all three are declared, and only commands is required
    assert parameters == DocumentParameters(
        frozenset({"commands", "workingDirectory", "executionTimeout"}), frozenset({"commands"})
    )
    assert "workingDirectory" in parameters
    assert "Bogus" not in parameters


def test_the_distinct_documents_to_describe_are_counted_once_each() -> None:
    # GIVEN a plan naming MAX_DOCUMENTS + 1 distinct documents, one of them three times
    scripts = [{"documentName": f"DRSOrch-{n}"} for n in range(MAX_DOCUMENTS + 1)] + [{"documentName": "DRSOrch-0"}] * 2
    # WHEN the documents to describe are listed / THEN each is listed once, in plan order
    names = documents_to_describe(_plan(postLaunch=scripts), AllowList.parse("DRSOrch-*"))
    assert names == [f"DRSOrch-{n}" for n in range(MAX_DOCUMENTS + 1)]
