"""What one execution costs to orchestrate, against a Step Functions Standard polling loop.

The reference plan: 3 waves in a chain, 30 servers (10 per wave), 20 minutes of DRS launch per wave. It
runs on the local cloud with the real handlers, ledger and state machine, and every billable operation
it makes is counted:

- Lambda: invocations (`cloud.lambdas.invocations`) and GB-seconds = configured memory x the measured
  handler duration (measured here, on moto: an over-estimate of the same code on AWS);
- Step Functions Express: requests and GB-seconds (64 MB, the measured duration of each execution);
- EventBridge: custom events published (our events and the Scheduler's ticks; aws.drs events are free);
- DynamoDB on demand: read and write request units, counted with a botocore hook on the ledger's client
  (`provide-client-params.dynamodb.*`; a batch or transaction counts its items, a transaction twice;
  1 unit per item, i.e. items under 1 KB written / 4 KB read);
- EventBridge Scheduler: invocations (schedules fired).

The polling design beside it is what the existing open-source DRS orchestrators do: a Step Functions
Standard execution per plan whose loop, while a wave's DRS job runs, waits 30 s, invokes a poll Lambda
(DescribeJobs), writes the status to DynamoDB (a direct SDK integration) and chooses, i.e. 4 state
transitions, 1 Lambda invocation and 1 DynamoDB write every 30 s, plus the states around each wave.

Prices: AWS list prices, us-east-1 (2025), no free tier. Target: ours at most a tenth of the polling
design's cost per execution.

    .venv/bin/python bench/cost.py
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter
from typing import Any

from infra.definitions import FUNCTIONS
from localcloud.cloud import LocalCloud
from localcloud.profile import load_profile
from localcloud.runner import run_plan
from orchestrator.domain.plan import parse_plan

PRICES = {
    "lambda_request": 0.20 / 1e6,  # per invocation
    "lambda_gb_second_arm64": 0.0000133334,
    "express_request": 1.00 / 1e6,
    "express_gb_second": 0.00001667,  # first 1,000 GB-hours
    "standard_transition": 0.025 / 1000,
    "eventbridge_custom_event": 1.00 / 1e6,  # per 64 KB chunk
    "dynamodb_write_request_unit": 0.625 / 1e6,  # on demand
    "dynamodb_read_request_unit": 0.125 / 1e6,
    "scheduler_invocation": 1.00 / 1e6,
}
EXPRESS_MEMORY_GB = 0.0625
WAVES, SERVERS_PER_WAVE, LAUNCH_SECONDS = 3, 10, 1200
POLL_SECONDS = 30
POLL_LAMBDA_MEMORY_GB, POLL_LAMBDA_SECONDS = 0.128, 0.3  # a DescribeJobs call, generously
POLLING_STATES_PER_LOOP = 4  # Wait, Task (poll Lambda), Task (DynamoDB UpdateItem), Choice
POLLING_STATES_PER_WAVE = 8  # start the wave (Lambda), record, pre/post hooks, map bookkeeping
POLLING_LAMBDAS_PER_WAVE = 2  # start the recovery, and close the wave
POLLING_WRITES_PER_WAVE = 2
POLLING_STATES_PER_PLAN = 6

WRITES = {"PutItem": 1, "UpdateItem": 1, "DeleteItem": 1}


def reference_plan() -> dict[str, Any]:
    waves = []
    for w in range(WAVES):
        servers = [f"s-{w:02d}{n:015d}" for n in range(SERVERS_PER_WAVE)]
        waves.append({"waveId": f"tier{w + 1}", "servers": servers, **({"dependsOn": [f"tier{w}"]} if w else {})})
    return {"planId": "reference", "name": "3 waves, 30 servers, 20 minutes per wave", "waves": waves}


class DynamoCounter:
    """Request units from the ledger client's own calls."""

    def __init__(self) -> None:
        self.reads = 0
        self.writes = 0
        self.calls: Counter[str] = Counter()

    def before(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        name = model.name
        self.calls[name] += 1
        if name in WRITES:
            self.writes += 1
        elif name == "BatchWriteItem":
            self.writes += sum(len(items) for items in params.get("RequestItems", {}).values())
        elif name == "TransactWriteItems":
            self.writes += 2 * len(params.get("TransactItems", []))
        elif name == "BatchGetItem":
            self.reads += sum(len(v.get("Keys", [])) for v in params.get("RequestItems", {}).values())

    def after(self, parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in ("Query", "Scan"):
            self.reads += max(1, int(parsed.get("Count", 0)))
        elif model.name == "GetItem":
            self.reads += 1


def measure() -> dict[str, Any]:
    profile = load_profile(None, **{"drs.launchSeconds": {"min": LAUNCH_SECONDS, "max": LAUNCH_SECONDS}})
    counter = DynamoCounter()
    with LocalCloud(profile) as cloud:
        assert cloud.ledger is not None
        events = cloud.ledger._client.meta.events
        events.register("provide-client-params.dynamodb.*", counter.before)
        events.register("after-call.dynamodb.*", counter.after)
        result = run_plan(cloud, parse_plan(reference_plan()), timeout=300)
        durations = []
        for arn in list(cloud._executions) + _finished_executions(cloud):
            desc = cloud.sfn.describe_execution(executionArn=arn)
            if desc.get("stopDate") and desc.get("startDate"):
                durations.append((desc["stopDate"] - desc["startDate"]).total_seconds())
        return {
            "status": result.status,
            "simulated_minutes": round((result.report or {}).get("durationSeconds", 0) / 60, 1),
            "lambda_invocations": sum(cloud.lambdas.invocations.values()),
            "lambda_gb_seconds": sum(
                FUNCTIONS[name].memory_mb / 1024 * seconds for name, seconds in cloud.lambdas.seconds.items()
            ),
            "express_requests": cloud.stats.executions_started,
            "express_gb_seconds": EXPRESS_MEMORY_GB
            * sum(max(0.1, d) for d in durations or [0.5] * cloud.stats.executions_started),
            "eventbridge_events": sum(1 for e in cloud.events if e.source == "drs.orchestrator"),
            "dynamodb_reads": counter.reads,
            "dynamodb_writes": counter.writes,
            "scheduler_invocations": cloud.stats.schedules_fired,
        }


def _finished_executions(cloud: LocalCloud) -> list[str]:
    return [e["executionArn"] for e in cloud.sfn.list_executions(stateMachineArn=cloud.state_machine_arn)["executions"]]


def ours_cost(m: dict[str, Any]) -> dict[str, float]:
    return {
        "lambda": m["lambda_invocations"] * PRICES["lambda_request"]
        + m["lambda_gb_seconds"] * PRICES["lambda_gb_second_arm64"],
        "express": m["express_requests"] * PRICES["express_request"]
        + m["express_gb_seconds"] * PRICES["express_gb_second"],
        "eventbridge": m["eventbridge_events"] * PRICES["eventbridge_custom_event"],
        "dynamodb": m["dynamodb_reads"] * PRICES["dynamodb_read_request_unit"]
        + m["dynamodb_writes"] * PRICES["dynamodb_write_request_unit"],
        "scheduler": m["scheduler_invocations"] * PRICES["scheduler_invocation"],
    }


def polling() -> dict[str, Any]:
    loops = math.ceil(LAUNCH_SECONDS / POLL_SECONDS) * WAVES
    transitions = loops * POLLING_STATES_PER_LOOP + WAVES * POLLING_STATES_PER_WAVE + POLLING_STATES_PER_PLAN
    invocations = loops + WAVES * POLLING_LAMBDAS_PER_WAVE
    writes = loops + WAVES * POLLING_WRITES_PER_WAVE
    return {
        "state_transitions": transitions,
        "lambda_invocations": invocations,
        "lambda_gb_seconds": invocations * POLL_LAMBDA_MEMORY_GB * POLL_LAMBDA_SECONDS,
        "dynamodb_writes": writes,
    }


def polling_cost(p: dict[str, Any]) -> dict[str, float]:
    return {
        "step_functions_standard": p["state_transitions"] * PRICES["standard_transition"],
        "lambda": p["lambda_invocations"] * PRICES["lambda_request"]
        + p["lambda_gb_seconds"] * PRICES["lambda_gb_second_arm64"],
        "dynamodb": p["dynamodb_writes"] * PRICES["dynamodb_write_request_unit"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = parser.parse_args()
    ours = measure()
    ours_total = ours_cost(ours)
    poll = polling()
    poll_total = polling_cost(poll)
    a, b = sum(ours_total.values()), sum(poll_total.values())
    summary = {
        "ours": ours,
        "ours_usd": ours_total,
        "polling": poll,
        "polling_usd": poll_total,
        "ours_total_usd": a,
        "polling_total_usd": b,
        "ratio": b / a if a else math.inf,
        "prices_usd": PRICES,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(
        f"cost per execution of the reference plan ({WAVES} waves, {WAVES * SERVERS_PER_WAVE} servers, "
        f"{LAUNCH_SECONDS // 60} min of DRS launch per wave; run {ours['status']}, "
        f"{ours['simulated_minutes']} simulated min)"
    )
    print("prices (us-east-1 list, USD): " + ", ".join(f"{k} {v:.10g}" for k, v in PRICES.items()))
    print("  ours (EventBridge choreography):")
    for key in (
        "lambda_invocations",
        "lambda_gb_seconds",
        "express_requests",
        "express_gb_seconds",
        "eventbridge_events",
        "dynamodb_reads",
        "dynamodb_writes",
        "scheduler_invocations",
    ):
        value = ours[key]
        print(f"    {key:24} {value:.3f}" if isinstance(value, float) else f"    {key:24} {value}")
    for key, usd in ours_total.items():
        print(f"    ${usd:.6f}  {key}")
    print(f"    ${a:.6f}  total")
    print(f"  Step Functions Standard polling every {POLL_SECONDS} s:")
    for key, value in poll.items():
        print(f"    {key:24} {value:.3f}" if isinstance(value, float) else f"    {key:24} {value}")
    for key, usd in poll_total.items():
        print(f"    ${usd:.6f}  {key}")
    print(f"    ${b:.6f}  total")
    verdict = "MET" if a * 10 <= b else "NOT MET"
    print(f"ours costs 1/{b / a:.1f} of the polling design per execution (target at most 1/10): {verdict}")


if __name__ == "__main__":
    main()
