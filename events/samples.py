"""Sample EventBridge events, one per detail-type, as a rule target receives them.

`events/samples/<DetailType>.json` holds one for each of our contracts; the AWS events we consume are
`events/samples/aws.drs-DRS Source Server Launch Result.json`,
`events/samples/aws.ssm-EC2 Command Invocation Status-change Notification.json` and Lambda's destination records
of LAMBDA steps, `events/samples/lambda-Lambda Function Invocation Result - Success.json` and `... - Failure.json`
(documented shapes: the DRS detail is `{"state", "job-id", "is-drill"}` with the source server's ARN in
`resources`; the SSM detail has `command-id`, `document-name`, `instance-id`, `requested-date-time` and `status`;
Lambda's is the invocation record: version, timestamp, requestContext, requestPayload, responseContext,
responsePayload, with the qualified function ARN in `resources`).

Samples are keyed by the `detail-type` inside each file, so `load_sample("WaveReady")` and
`load_sample("DRS Source Server Launch Result")` both work; every call returns a fresh copy.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

SAMPLES_DIR = Path(__file__).resolve().parent / "samples"


@cache
def _index() -> dict[str, dict[str, Any]]:
    samples: dict[str, dict[str, Any]] = {}
    for path in sorted(SAMPLES_DIR.glob("*.json")):
        event = json.loads(path.read_text(encoding="utf-8"))
        detail_type = event.get("detail-type") if isinstance(event, dict) else None
        if not isinstance(detail_type, str):
            raise TypeError(f"sample {path.name} has no detail-type string")
        if detail_type in samples:
            raise ValueError(f"two samples of detail-type {detail_type!r} (one is {path.name})")
        samples[detail_type] = event
    return samples


def sample_detail_types() -> list[str]:
    """Every detail-type that has a sample, sorted."""
    return sorted(_index())


def load_sample(detail_type: str) -> dict[str, Any]:
    """A fresh copy of the sample event of `detail_type` (KeyError naming the known ones if none)."""
    try:
        event = _index()[detail_type]
    except KeyError:
        known = ", ".join(sample_detail_types())
        raise KeyError(f"no sample event of detail-type {detail_type!r}; samples exist for: {known}") from None
    return copy.deepcopy(event)
