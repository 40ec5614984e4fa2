"""The evidence report: an execution report rendered as one self-contained HTML page (`drs-orch report --html`,
`drs-orch run --html`).

`render_html(report)` takes the report `orchestrator.reporting.report.build_report` returns (or its JSON, loaded)
and returns the page: a summary (plan, mode, who started it and when, outcome, objectives), the waves' dependency
graph coloured by outcome (`graph_svg`), the timeline (`timeline.render_svg`), a section per wave (times,
objectives, servers and their recovery instances, DRS jobs, scripts with the tail of their output, the approval,
operator decisions, earlier attempts, warnings), the terminations, every warning, and the event log. Inline CSS
and SVG only: no script, no external reference; it opens offline and prints to PDF a wave per page. It is
rendered from the Jinja2 templates in `templates/` with autoescape on: what came from outside (script output,
DRS's reasons, operator comments) is text, never markup.

The page carries the SHA-256 of the JSON report it was rendered from: of the bytes of its JSON file as drs-orch
writes it (`report.report_json`: `drs-orch report -o`, `run --report`, and the archive function's `report.json` in
the evidence bucket, whose object metadata carries the same digest), so `sha256sum report.json` checks it. The
same report always gives the same page (nothing in it depends on when or where it is rendered).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from markupsafe import Markup

from orchestrator.domain.clock import parse_iso
from orchestrator.reporting.graph_svg import graph_waves, render_graph_svg
from orchestrator.reporting.report import ATTEMPT_TIME_KEYS, report_json
from orchestrator.reporting.templating import environment
from orchestrator.reporting.timeline import lambda_request_id, render_svg

TAIL_LINES = 20  # the lines of a script's output the page shows (its last ones)
TAIL_CHARS = 2000  # and at most this many characters of them
JOB_SERVER_IDS = 20  # a job's servers listed by id up to this many (beyond: the count; the servers table has all)

SHA256_DEFINITION = (
    "SHA-256 of the JSON report file as drs-orch writes it (report -o, run --report, and report.json in the evidence "
    "bucket)"
)

_TIME_LABELS = dict(
    zip(
        ATTEMPT_TIME_KEYS,
        ("ready", "pre-launch started", "DRS launch started", "launched", "post-launch started", "completed", "ended"),
        strict=True,
    )
)
_TONES = {  # a status (of a wave, a server, a script, an approval, a verdict) -> how the page marks it
    **dict.fromkeys(("COMPLETED", "LAUNCHED", "Success", "GRANTED", "MET"), "ok"),
    **dict.fromkeys(("FAILED", "Failed", "TimedOut", "Cancelled", "DENIED", "TIMED_OUT", "MISSED"), "bad"),
    **dict.fromkeys(("SKIPPED", "CANCELLED", "NOT_MEASURED", "NOT_STARTED", "TERMINATED"), "muted"),
}


def report_sha256(report: Mapping[str, Any]) -> str:
    """The SHA-256 of the report's JSON file (`report_json(report)`, UTF-8), 64 lowercase hex digits."""
    return hashlib.sha256(report_json(report).encode("utf-8")).hexdigest()


def tone(status: object) -> str:
    """How the page marks `status`: ok, bad, muted, or other (still running, unknown)."""
    return _TONES.get(str(status), "other")


def render_html(report: Mapping[str, Any]) -> str:
    """The evidence report of `report` as one HTML5 page (text). `timeline.ReportError` when `report` is not an
    execution report; TypeError when it holds a value JSON cannot carry."""
    timeline = render_svg(report)  # checks the report's shape first
    digest = report_sha256(report)
    started = _moment(report.get("startedAt"))
    waves = wave_sections(report)
    context = {
        "report": report,
        "title": _title(report),
        "summary": _summary(report),
        "objectives": _objectives(report.get("objectives")),
        "objectives_verdict": _overall(report.get("objectives"), _objects(report.get("waves"))),
        "missed_by_waves": _missed_by_waves(_objects(report.get("waves"))),
        "graph": render_graph_svg(graph_waves(report)),
        "timeline": Markup(timeline.split("?>", 1)[1].strip() if timeline.startswith("<?xml") else timeline),  # noqa: S704 - the timeline escapes its own text
        "waves": waves,
        "warnings": [(w["id"], text) for w in waves for text in w["warnings"]],
        "terminations": _objects(report.get("terminations")),
        "events": [_event(e, started) for e in _objects(report.get("events"))],
        "has_events": "events" in report,
        "sha256": digest,
        "sha256_definition": SHA256_DEFINITION,
        "tone": tone,
    }
    return environment().get_template("evidence.html.j2").render(context)


# ---- the parts of the page -------------------------------------------------------------------------------


def _objects(value: object) -> list[Mapping[str, Any]]:
    """The objects of a list (anything else in it, or a value that is not a list, gives none)."""
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _mapping(value: object) -> Mapping[str, Any]:
    """`value` when it is an object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def _since(value: object, start: datetime | None) -> str | None:
    """`+m:ss` from the execution's start (None when either is unknown)."""
    moment = _moment(value)
    if moment is None or start is None:
        return None
    seconds = int((moment - start).total_seconds())
    sign = "-" if seconds < 0 else "+"
    return f"{sign}{abs(seconds) // 60}:{abs(seconds) % 60:02d}"


def _title(report: Mapping[str, Any]) -> str:
    plan_id, name = report.get("planId"), report.get("planName")
    plan = f"{name} ({plan_id})" if name and plan_id and name != plan_id else str(name or plan_id or "plan")
    return f"Evidence report: {plan}, execution {report.get('executionId')}"


def _duration(seconds: object) -> str | None:
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return None
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s ({seconds:g} s)"


def _summary(report: Mapping[str, Any]) -> list[tuple[str, object]]:
    """The summary's rows (label, value); optional ones only when the report has them."""
    rows: list[tuple[str, object]] = [
        ("plan", report.get("planName") or report.get("planId")),
        ("plan id", report.get("planId")),
    ]
    if report.get("planVersion") is not None:  # a stored plan's (`plan push`): its version and the SHA-256 frozen
        rows.append(("plan version", report["planVersion"]))
    if report.get("planSha256"):
        rows.append(("plan SHA-256", report["planSha256"]))
    rows += [
        ("execution", report.get("executionId")),
        ("mode", report.get("mode")),
        ("requested by", report.get("requestedBy")),
    ]
    if report.get("declaredAt"):
        rows.append(("disaster declared", report["declaredAt"]))
    rows += [
        ("started", report.get("startedAt")),
        ("ended", report.get("endedAt")),
        ("duration", _duration(report.get("durationSeconds"))),
    ]
    if report.get("cancelledBy"):
        rows.append(("cancelled by", report["cancelledBy"]))
    if report.get("stopReason"):
        rows.append(("stopped", report["stopReason"]))
    return rows


def _objectives(value: object) -> list[dict[str, Any]]:
    """Rows of an `objectives` object ({"rto": O, "rpo": O}, either absent): name, objective, achieved, margin
    (minutes), verdict and the reason of a NOT_MEASURED one."""
    if not isinstance(value, Mapping):
        return []
    rows = []
    for key, name in (("rto", "RTO (recovery time)"), ("rpo", "RPO (recovery point)")):
        found = value.get(key)
        if isinstance(found, Mapping):
            rows.append(
                {
                    "name": name,
                    "objective": _minutes(found.get("objectiveMinutes")),
                    "achieved": _minutes(found.get("achievedMinutes")),
                    "margin": _minutes(found.get("marginMinutes")),
                    "verdict": found.get("verdict") or "NOT_MEASURED",
                    "reason": found.get("reason"),
                }
            )
    return rows


def _overall(plan: object, waves: list[Mapping[str, Any]]) -> str | None:
    """The verdict of every objective the plan declares, its own and its waves': MISSED when any was missed (a
    wave's RTO missed is not hidden behind the plan's met), else MET when every one was met, else NOT_MEASURED;
    None: none declared."""
    verdicts = [row["verdict"] for value in (plan, *(w.get("objectives") for w in waves)) for row in _objectives(value)]
    if not verdicts:
        return None
    if "MISSED" in verdicts:
        return "MISSED"
    return "MET" if all(v == "MET" for v in verdicts) else "NOT_MEASURED"


def _missed_by_waves(waves: list[Mapping[str, Any]]) -> list[str]:
    """`wave W: RTO (recovery time)` for each objective a wave missed, in the report's order of waves."""
    return [
        f"wave {_text(w.get('waveId'))}: {row['name']}"
        for w in waves
        for row in _objectives(w.get("objectives"))
        if row["verdict"] == "MISSED"
    ]


def _minutes(value: object) -> str | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    return f"{value:.2f} min"


def wave_sections(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each wave of `report` as its section's values (`templates/wave.html.j2`: status, times since the start,
    servers and recovery instances, DRS jobs, scripts with the tail of their output, approval, operator decisions,
    earlier attempts, warnings), in report order: the evidence report's and the dashboard's."""
    started = _moment(report.get("startedAt"))
    return [_wave(w, started) for w in _objects(report.get("waves"))]


def _wave(wave: Mapping[str, Any], started: datetime | None) -> dict[str, Any]:
    """One wave's section: its rows, ready for the template."""
    servers = [_server(s) for s in _objects(wave.get("servers"))]
    return {
        "id": wave.get("waveId"),
        "status": wave.get("status"),
        "attempt": wave.get("attempt") or 1,
        "depends_on": list(wave.get("dependsOn") or []),
        "reason": wave.get("reason"),
        "times": [
            (_TIME_LABELS[key], wave[key], _since(wave[key], started)) for key in ATTEMPT_TIME_KEYS if wave.get(key)
        ],
        "objectives": _objectives(wave.get("objectives")),
        "selection": wave.get("sourceServerTags"),
        "target": _target_label(wave.get("target")),
        "servers": servers,
        "has_rpo": any(s["rpo"] is not None for s in servers),
        "has_settings": any(s["settings"] for s in servers),
        "jobs": [_job(j) for j in _objects(wave.get("jobs"))],
        "scripts": [_script(s) for s in _objects(wave.get("scripts"))],
        "approval": _approval(wave.get("approval")),
        "decisions": _decisions(wave),
        "previous": [_previous(p) for p in _objects(wave.get("previousAttempts"))],
        "warnings": [str(w) for w in wave.get("warnings") or []],
    }


def _target_label(target: Any) -> str | None:
    """A wave's target as `account 222233334444, us-west-2` (None: the orchestrator's own account and Region)."""
    found = _mapping(target)
    if not found.get("accountId"):
        return None
    return f"account {found.get('accountId')}, {found.get('region')}"


def _server(server: Mapping[str, Any]) -> dict[str, Any]:
    settings = _mapping(server.get("launchSettings"))
    landed, applied = _mapping(settings.get("landed")), _mapping(settings.get("applied"))
    return {
        "id": server.get("sourceServerId"),
        "criticality": server.get("criticality"),
        "status": server.get("launchStatus"),
        "instance": server.get("recoveryInstanceId") or landed.get("recoveryInstanceId"),
        "private_ip": server.get("privateIp") or landed.get("privateIp"),
        "snapshot": server.get("recoveryPointAt"),
        "rpo": _minutes(server.get("rpoMinutes")),
        "job": server.get("jobId"),
        "settings": [f"{k}={_text(v)}" for k, v in sorted(applied.items())],
        "settings_status": settings.get("status"),
        "template": (
            f"{settings['templateId']} v{settings.get('templateVersion')}" if settings.get("templateId") else None
        ),
        "selection": server.get("selection"),
        "reason": server.get("reason"),
    }


def _text(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def _job(job: Mapping[str, Any]) -> dict[str, Any]:
    ids = [str(s) for s in job.get("sourceServerIds") or []]
    return {
        "id": job.get("jobId"),
        "status": job.get("status"),
        "count": len(ids),
        "servers": ids if len(ids) <= JOB_SERVER_IDS else [],
        "started": job.get("startedAt"),
        "completed": job.get("completedAt"),
        "shared_with": [str(w) for w in job.get("sharedWith") or []],
    }


def tail(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> tuple[str, bool]:
    """The last `lines` lines of `text`, at most `chars` characters of them; and whether anything was cut."""
    kept = text.rstrip("\n").split("\n")[-lines:]
    shown = "\n".join(kept)
    if len(shown) > chars:
        shown = shown[-chars:]
    return shown, shown != text.rstrip("\n")


def _script(script: Mapping[str, Any]) -> dict[str, Any]:
    instances = []
    request = lambda_request_id(script)  # a LAMBDA step's one row is its invocation, named by its request id
    for instance in _objects(script.get("instances")):
        output, cut = tail(str(instance.get("output") or ""))
        instances.append(
            {
                "id": f"request {request}" if request else instance.get("instanceId"),
                "status": instance.get("status"),
                "duration": instance.get("durationSeconds"),
                "output": output,
                "cut": cut,
            }
        )
    index = script.get("index")
    return {
        "step": f"{index + 1}" if isinstance(index, int) and not isinstance(index, bool) else None,
        "phase": str(script.get("phase") or "").replace("_", "-").lower() or None,
        "document": script.get("documentName"),
        "health_check": bool(script.get("healthCheck")),
        "on_failure": script.get("onFailure"),
        "status": script.get("status"),
        "attempts": script.get("attempts"),
        "started": script.get("startedAt"),
        "ended": script.get("endedAt"),
        "instance_count": script.get("instanceCount", len(instances)),
        "instances": instances,
        "reason": script.get("reason") or script.get("error"),
        "sent_values": _parameter_values(script.get("parameterValues")),
    }


def _parameter_values(values: object) -> list[tuple[str, str]]:
    """The parameters whose `${{ ... }}` references the step resolved, as sent: (name, value; a list's items
    joined with ', ')."""
    if not isinstance(values, Mapping):
        return []
    return [
        (str(name), ", ".join(str(item) for item in value) if isinstance(value, list) else str(value))
        for name, value in values.items()
    ]


def _approval(approval: object) -> list[tuple[str, object]]:
    """The approval's rows (label, value), the fields recorded only; none for a wave without a gate."""
    if not isinstance(approval, Mapping):
        return []
    labels = (
        ("status", "status"),
        ("gate", "gate"),
        ("approvers", "who may approve"),
        ("requestedAt", "requested"),
        ("deadline", "deadline"),
        ("approvedBy", "approved by"),
        ("approvedAt", "approved at"),
        ("comment", "comment"),
        ("deniedBy", "denied by"),
        ("deniedAt", "denied at"),
        ("denyReason", "reason given"),
        ("timedOutAt", "timed out at"),
    )
    return [
        (label, ", ".join(map(str, approval[key])) if isinstance(approval[key], list) else approval[key])
        for key, label in labels
        if approval.get(key) is not None
    ]


def _decisions(wave: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What operators decided about the wave: who, when, what and why (approvals, a retry, a skip)."""
    found = []
    approval = _mapping(wave.get("approval"))
    if approval.get("approvedBy"):
        found.append(_decision("approved", approval["approvedBy"], approval.get("approvedAt"), approval.get("comment")))
    if approval.get("deniedBy"):
        found.append(_decision("denied", approval["deniedBy"], approval.get("deniedAt"), approval.get("denyReason")))
    if wave.get("retriedBy"):
        relaunched = ", ".join(map(str, wave.get("relaunchedServers") or [])) or None
        why = f"launched again: {relaunched}" if relaunched else None
        found.append(_decision("retried", wave["retriedBy"], wave.get("retriedAt"), why))
    if wave.get("skippedBy"):
        found.append(_decision("skipped", wave["skippedBy"], wave.get("skippedAt"), wave.get("reason")))
    return found


def _decision(what: str, who: object, when: object, why: object) -> dict[str, Any]:
    return {"what": what, "who": who, "when": when, "why": why}


def _previous(attempt: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "attempt": attempt.get("attempt"),
        "status": attempt.get("status"),
        "times": [(_TIME_LABELS[key], attempt[key]) for key in ATTEMPT_TIME_KEYS if attempt.get(key)],
        "reason": attempt.get("reason"),
        "launched": attempt.get("serversLaunched"),
        "jobs": [str(j.get("jobId")) for j in _objects(attempt.get("jobs"))],
        "servers": [
            {
                "id": s.get("sourceServerId"),
                "status": s.get("launchStatus"),
                "instance": s.get("recoveryInstanceId"),
                "reason": s.get("reason"),
            }
            for s in _objects(attempt.get("servers"))
        ],
    }


def _event(event: Mapping[str, Any], started: datetime | None) -> dict[str, Any]:
    return {
        "time": event.get("time"),
        "since": _since(event.get("time"), started),
        "type": event.get("detailType"),
        "wave": event.get("waveId"),
    }
