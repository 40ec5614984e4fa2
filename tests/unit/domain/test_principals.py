"""IAM principals of plans and the deploy (orchestrator/domain/principals.py): which forms are accepted, and
which verified callers each admits."""

from __future__ import annotations

import pytest

from orchestrator.domain.principals import admitted, parse_principal, principal_problem, split_principals

ROLE = "arn:aws:iam::123456789012:role/DROps"
SESSION = "arn:aws:sts::123456789012:assumed-role/DROps/alice"


@pytest.mark.parametrize(
    "text",
    [
        ROLE,
        "arn:aws:iam::123456789012:role/team/dr/DROps",  # with a path
        "arn:aws-us-gov:iam::123456789012:role/DROps",
        "arn:aws:iam::123456789012:user/alice",
        "arn:aws:sts::123456789012:assumed-role/DROps/*",
        "arn:aws:sts::123456789012:assumed-role/DROps/alice@example.com",
        "arn:aws:sts::123456789012:assumed-role/DROps/oncall-?",
    ],
)
def test_the_three_forms_are_principals(text: str) -> None:
    # GIVEN a role ARN, a user ARN or a session pattern WHEN checked THEN it is a principal
    assert principal_problem(text) is None
    assert parse_principal(text).text == text


@pytest.mark.parametrize(
    "text",
    [
        "ops",  # a free-form name: anyone can write it into a command
        "",
        "arn:aws:iam::*:role/DROps",  # the account is exact
        "arn:aws:iam::12345678901:role/DROps",  # eleven digits
        "arn:aws:iam::123456789012:role/DR*",  # wildcards only in a session name
        "arn:aws:sts::123456789012:assumed-role/DR*/alice",
        "arn:aws:iam::123456789012:root",  # an account root is no operator
        "arn:aws:iam::123456789012:group/DROps",  # a group never calls
        "arn:aws:sts::123456789012:federated-user/alice",
        "arn:aws:sts::123456789012:assumed-role/DROps/[ab]lice",  # no character classes
        " " + ROLE,
        42,
    ],
)
def test_anything_else_is_refused_with_the_forms_named(text: object) -> None:
    # GIVEN something that is not one of the three forms WHEN checked THEN the problem names the forms
    problem = principal_problem(text)
    assert problem is not None
    if isinstance(text, str):
        assert "is not an IAM principal: name a role ARN (arn:aws:iam::123456789012:role/DROps)" in problem
        with pytest.raises(ValueError, match="is not an IAM principal"):
            parse_principal(text)
    else:
        assert problem == "an IAM principal is a string, got int"


@pytest.mark.parametrize(
    ("principal", "caller", "expected"),
    [
        (ROLE, SESSION, True),
        (ROLE, "arn:aws:sts::123456789012:assumed-role/DROps/bob", True),
        ("arn:aws:iam::123456789012:role/team/DROps", SESSION, True),  # the path is not in a session ARN
        (ROLE, "arn:aws:sts::123456789099:assumed-role/DROps/alice", False),  # another account
        (ROLE, "arn:aws-cn:sts::123456789012:assumed-role/DROps/alice", False),  # another partition
        (ROLE, "arn:aws:sts::123456789012:assumed-role/DROpsAdmin/alice", False),
        (ROLE, ROLE, False),  # a role ARN is not a caller: its sessions are
        ("arn:aws:sts::123456789012:assumed-role/DROps/*", SESSION, True),
        ("arn:aws:sts::123456789012:assumed-role/DROps/bob", SESSION, False),
        ("arn:aws:sts::123456789012:assumed-role/DROps/ALICE", SESSION, False),  # case-sensitive
        ("arn:aws:sts::123456789012:assumed-role/DROps/al?ce", SESSION, True),
        ("arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/alice", True),
        ("arn:aws:iam::123456789012:user/alice", SESSION, False),
        (ROLE, "arn:aws:sts::123456789012:assumed-role/DROps/alice/extra", False),  # not a session ARN
    ],
)
def test_a_principal_admits_exactly_its_callers(principal: str, caller: str, expected: bool) -> None:
    # GIVEN a principal and a verified caller's ARN WHEN matched THEN the answer is exact
    assert parse_principal(principal).admits(caller) is expected
    assert admitted(caller, [principal]) is expected


def test_a_malformed_principal_admits_nobody() -> None:
    # GIVEN a list whose only entry is malformed WHEN a caller that would match it textually is checked
    # THEN it is not admitted (a wrong entry never opens a door)
    assert admitted("ops", ["ops"]) is False
    assert admitted(SESSION, ["ops", ROLE]) is True


def test_a_caller_of_each_form_is_one_it_admits() -> None:
    # GIVEN each form WHEN asked for a caller it admits (the local cloud's simulated approver)
    for text in (ROLE, "arn:aws:sts::123456789012:assumed-role/DROps/*-oncall", "arn:aws:iam::123456789012:user/a"):
        principal = parse_principal(text)
        caller = principal.a_caller("sim")
        # THEN the principal admits it
        assert principal.admits(caller), (text, caller)
    assert parse_principal(ROLE).a_caller("sim") == "arn:aws:sts::123456789012:assumed-role/DROps/sim"


def test_a_setting_splits_on_commas_and_drops_blanks() -> None:
    assert split_principals(f" {ROLE} ,, {SESSION}, ") == [ROLE, SESSION]
    assert split_principals("") == []
