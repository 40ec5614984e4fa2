"""The console widget in the synthesized stack (issue #17 item 2): a function built as the others, reading the ledger
only (GetItem and Query on the table, Query on its executions index), shown on the stack's dashboard."""

from __future__ import annotations

import json
from typing import Any

from infra.constructs.console_widget import HANDLER
from infra.definitions import EXECUTIONS_INDEX, EXECUTIONS_INDEX_ATTRIBUTES, EXECUTIONS_INDEX_KEYS, FUNCTIONS
from tests.infra.conftest import Synth


def _statements_of(synth: Synth, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in synth.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return sorted(actions if isinstance(actions, list) else [actions])


def test_the_widget_function_is_built_as_the_others(synth: Synth) -> None:
    # GIVEN the synthesized stack
    function_id = synth.logical_id(synth.stack.console_widget.function)
    widget = synth.resources[function_id]["Properties"]
    start_plan = synth.resources[synth.logical_id(synth.stack.functions.functions["start_plan"])]["Properties"]
    # THEN one more function than FUNCTIONS, with the same code, runtime, architecture and tracing as theirs
    assert len(synth.of_type("AWS::Lambda::Function")) == len(FUNCTIONS) + 1
    assert widget["Handler"] == HANDLER
    for prop in ("Code", "Runtime", "Architectures", "TracingConfig"):
        assert widget[prop] == start_plan[prop], prop
    # AND its environment names the ledger table and nothing else it could use
    table_id = synth.logical_id(synth.stack.ledger.table)
    assert widget["Environment"]["Variables"] == {
        "LEDGER_TABLE_NAME": {"Ref": table_id},
        "POWERTOOLS_SERVICE_NAME": "drs-orch-console_widget",
    }


def test_the_widget_may_only_read_the_ledger_and_write_its_logs(synth: Synth) -> None:
    # GIVEN the widget's role
    role_id = synth.logical_id(synth.stack.console_widget.role)
    table_id = synth.logical_id(synth.stack.ledger.table)
    statements = _statements_of(synth, role_id)
    # THEN its DynamoDB grants are GetItem and Query on the table and Query on the executions index, nothing else
    dynamodb = [(s["Effect"], _actions(s), s["Resource"]) for s in statements if _actions(s)[0].startswith("dynamo")]
    table_arn = {"Fn::GetAtt": [table_id, "Arn"]}
    index_arn = {"Fn::Join": ["", [table_arn, f"/index/{EXECUTIONS_INDEX}"]]}
    assert dynamodb == [
        ("Allow", ["dynamodb:GetItem", "dynamodb:Query"], table_arn),
        ("Allow", ["dynamodb:Query"], index_arn),
    ]
    # AND the rest is its own log group and X-Ray's traces
    others = sorted(action for s in statements for action in _actions(s) if not action.startswith("dynamodb:"))
    assert others == ["logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTelemetryRecords", "xray:PutTraceSegments"]


def test_the_ledger_has_the_executions_index_the_widget_reads(synth: Synth) -> None:
    ((_, table),) = synth.of_type("AWS::DynamoDB::Table").items()
    partition, sort = EXECUTIONS_INDEX_KEYS
    assert table["Properties"]["GlobalSecondaryIndexes"] == [
        {
            "IndexName": EXECUTIONS_INDEX,
            "KeySchema": [{"AttributeName": partition, "KeyType": "HASH"}, {"AttributeName": sort, "KeyType": "RANGE"}],
            "Projection": {"NonKeyAttributes": list(EXECUTIONS_INDEX_ATTRIBUTES), "ProjectionType": "INCLUDE"},
        }
    ]


def test_the_dashboard_shows_the_widget(synth: Synth) -> None:
    # GIVEN the stack's one dashboard
    ((dashboard),) = synth.of_type("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    function_id = synth.logical_id(synth.stack.console_widget.function)
    # THEN it holds a custom widget calling the widget's function, refreshed with the dashboard
    assert '\\"type\\":\\"custom\\"' in body
    assert f'"Fn::GetAtt": ["{function_id}", "Arn"]' in body
    assert '\\"updateOn\\":{\\"refresh\\":true,\\"resize\\":false,\\"timeRange\\":false}' in body
