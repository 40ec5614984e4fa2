"""The ClientToken of an SSM_AUTOMATION try (orchestrator/steps/automation.py): SSM's idempotency is what makes a
start after a crash between StartAutomationExecution and its record find the execution instead of starting another."""

from __future__ import annotations

import uuid
from dataclasses import replace

from orchestrator.domain.records.scripts import ScriptRun, ScriptStatus
from orchestrator.steps.automation import client_token

RUN = ScriptRun(
    execution_id="e-1",
    wave_id="web",
    wave_attempt=1,
    phase="POST_LAUNCH",
    index=0,
    document_name="DRSOrch-DnsCutover",
    status=ScriptStatus.SENDING,
    try_number=1,
)


def test_the_same_try_has_the_same_token_and_every_other_try_another() -> None:
    # GIVEN a try, and tries that differ from it in one thing each
    others = [
        (RUN, 2),
        (replace(RUN, execution_id="e-2"), 1),
        (replace(RUN, wave_attempt=2), 1),
        (replace(RUN, phase="PRE_LAUNCH"), 1),
        (replace(RUN, index=1), 1),
        (replace(RUN, wave_id="app"), 1),
    ]

    # WHEN their tokens are made
    token = client_token(RUN, 1)

    # THEN the try's is a UUID (botocore's IdempotencyToken), the same every time, and no other try shares it
    assert str(uuid.UUID(token)) == token
    assert client_token(replace(RUN, status=ScriptStatus.RUNNING), 1) == token
    assert len({token, *(client_token(run, number) for run, number in others)}) == 1 + len(others)
