"""The one place that builds Powertools' logger, tracer and metrics."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="drs-orchestrator")
tracer = Tracer(service="drs-orchestrator", disabled=None)
metrics = Metrics(namespace="DRSOrchestrator", service="drs-orchestrator")
