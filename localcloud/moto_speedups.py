"""Process-wide patches that make moto faster without changing what it answers.

Each one removes work moto repeats on every call and that does not depend on the call: it is measured
(numbers beside each patch, on this 2-core machine) and checked by `tests/unit/localcloud/
test_moto_speedups.py`, which runs the same DynamoDB and EventBridge traffic with and without them and
compares every answer. Patches that depend on the simulated clock stay in `localcloud.cloud`.

`install()` is idempotent; `uninstall()` restores moto (for that comparison).
"""

from __future__ import annotations

import contextvars
import copy
import functools
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_ORIGINALS: dict[tuple[Any, str], Any] = {}

# DynamoDB operations whose answer is items, keys and counts only: plain JSON, nothing to convert
_ITEM_OPERATIONS = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "BatchGetItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)
_JSON_1_0 = "application/x-amz-json-1.0"

# The hash key of the base-table Query being answered: moto's all_items lists that partition only
_QUERY_PARTITION: contextvars.ContextVar[Any] = contextvars.ContextVar("drs_orch_query_partition", default=None)

# True while moto's own transaction backup runs: the table "copy" is the table itself (see below)
_SHARE_TABLES: contextvars.ContextVar[bool] = contextvars.ContextVar("drs_orch_share_tables", default=False)


def _patch(owner: Any, name: str, value: Any) -> None:
    _ORIGINALS.setdefault((owner, name), owner.__dict__.get(name, _MISSING))
    setattr(owner, name, value)


class _Missing:
    pass


_MISSING = _Missing()


def installed() -> bool:
    return bool(_ORIGINALS)


def install() -> None:
    if _ORIGINALS:
        return
    _responses_list_methods_once()
    _dynamodb_results_as_json()
    _dynamodb_transactions_back_up_items()
    _dynamodb_items_sized_once()
    _dynamodb_query_one_partition()
    _dynamodb_parse_update_expressions_once()
    _dynamodb_traversers_list_node_types_once()
    _events_deliver_untouched()
    _sqs_cheap_clock_reads()
    _sqs_retention_read_directly()
    _stepfunctions_parse_once()
    _stepfunctions_one_lambda_client()
    _jsonpath_parse_once()


def uninstall() -> None:
    for (owner, name), original in _ORIGINALS.items():
        if original is _MISSING:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    _ORIGINALS.clear()


@contextmanager
def without_speedups() -> Iterator[None]:
    """moto as released, for the duration (the equivalence tests)."""
    was = installed()
    uninstall()
    try:
        yield
    finally:
        if was:
            install()


# ---- every service -------------------------------------------------------------------------------


def _responses_list_methods_once() -> None:
    """moto lists the methods of the response class (inspect.getmembers over ~100 members) on every
    request to find the action's handler: 2 % of a run here. The classes do not change: once per class."""
    from moto.core import responses

    listing = getattr(responses, "method_names_from_class")  # noqa: B009 - not re-exported for mypy
    _patch(responses, "method_names_from_class", functools.lru_cache(maxsize=256)(listing))


# ---- DynamoDB --------------------------------------------------------------------------------------


def _dynamodb_results_as_json() -> None:
    """moto serializes every DynamoDB answer by walking the botocore output shape, member by member,
    down every nested AttributeValue: half of a GetItem's time (3.7 ms of a wave item here). The answer
    of an item operation is already the wire form (AttributeValue maps, strings, numbers), so it is
    written with json.dumps; anything json cannot write (bytes, dates) goes the shape-driven way."""
    from moto.dynamodb.responses import DynamoResult

    original: Callable[..., Any] = DynamoResult.execute_result

    def execute_result(self: DynamoResult, context: Any) -> Any:
        result = self.result
        if context.operation_model.name in _ITEM_OPERATIONS and isinstance(result, dict):
            try:
                body = json.dumps(result)
            except (TypeError, ValueError):
                return original(self, context)
            return 200, {"Content-Type": _JSON_1_0}, body
        return original(self, context)

    _patch(DynamoResult, "execute_result", execute_result)


def _dynamodb_transactions_back_up_items() -> None:
    """moto deep-copies every table a transaction touches, to roll back on failure: the cost of a
    TransactWriteItems grows with the whole table (33 ms on a 100-wave ledger, 7 ms on an empty one).
    Backing up only the items the transaction names, and restoring them on failure, rolls back the same
    writes. moto's own backup is made cheap by letting its table copy be the table itself. (A table with a
    stream would keep the stream records of a rolled-back transaction; the ledger has no stream.)"""
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    original: Callable[..., Any] = DynamoDBBackend.transact_write_items

    def table_deepcopy(self: Table, memo: dict[int, Any]) -> Table:
        if _SHARE_TABLES.get():
            return self
        reductor = self.__reduce_ex__(4)
        return copy._reconstruct(self, memo, *reductor)  # type: ignore[attr-defined,no-any-return]

    def item_backups(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        backups: list[tuple[Any, ...]] = []
        for entry in transact_items:
            for op in entry.values():
                table = backend.tables.get(op.get("TableName", ""))
                key = op.get("Item") if "Item" in op else op.get("Key")
                if table is None or not isinstance(key, dict) or table.hash_key_attr not in key:
                    continue
                hash_value = DynamoType(key[table.hash_key_attr])
                range_value = None
                if table.range_key_attr is not None:
                    if table.range_key_attr not in key:
                        continue
                    range_value = DynamoType(key[table.range_key_attr])
                backups.append((table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))))
        return backups

    def restore(backups: list[tuple[Any, ...]]) -> None:
        for table, hash_value, range_value, item in reversed(backups):
            if range_value is None:
                if item is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = item
            elif item is None:
                table.items.get(hash_value, {}).pop(range_value, None)
            else:
                table.items[hash_value][range_value] = item

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        backups = item_backups(self, transact_items)
        token = _SHARE_TABLES.set(True)
        try:
            original(self, transact_items)
        except BaseException:
            restore(backups)
            raise
        finally:
            _SHARE_TABLES.reset(token)

    _patch(Table, "__deepcopy__", table_deepcopy)
    _patch(DynamoDBBackend, "transact_write_items", transact_write_items)


def _dynamodb_items_sized_once() -> None:
    """moto checks an item's 400 KB limit as it builds the item, attribute by attribute, each time
    re-measuring every attribute already in: quadratic in the attributes, three quarters of a PutItem's
    time in moto (10,000 ledger server items by BatchWriteItem: 11.4 s, 7.7 s with this). An item's size
    only grows as attributes are added, so measuring the whole item once refuses exactly the items moto
    refuses (ItemSizeTooLarge, nothing stored)."""
    from moto.dynamodb.exceptions import ItemSizeTooLarge
    from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
    from moto.dynamodb.models.utilities import bytesize

    def item_init(self: Item, hash_key: DynamoType, range_key: DynamoType | None, attrs: dict[str, Any]) -> None:
        self.hash_key = hash_key
        self.range_key = range_key
        values = {key: DynamoType(value) for key, value in attrs.items()}
        if sum(bytesize(key) + value.size() for key, value in values.items()) > ITEM_SIZE_LIMIT:
            raise ItemSizeTooLarge
        self.attrs = LimitedSizeDict()
        dict.update(self.attrs, values)  # dict's own update: LimitedSizeDict's __setitem__ would measure again

    _patch(Item, "__init__", item_init)


ITEM_SIZE_LIMIT = 405_000  # moto's (LimitedSizeDict): DynamoDB's 400 KB, measured between 409 and 410 KB


def _dynamodb_query_one_partition() -> None:
    """moto answers a Query on the table's own key by listing every item of the table, sorting them all
    by (hash key, range key) with DynamoType comparisons, then keeping the queried partition; and with a
    range key condition it measures the size of every item of the partition (for the 1 MB page) before
    testing the condition. The ledger keeps an execution in one partition, so each Query of a wave's 20
    servers cost 0.5 s in a 2,000-server run (95 % of the 4,000-server scale bench's profile).

    Here a base-table Query lists only its partition (`Table.items[hash_key]`, the lookup GetItem makes),
    sorted by range key (string keys by their value: DynamoType orders strings exactly so); with a range
    key condition, only the items that meet it and their neighbours in key order, which is where moto's
    loop could end a page by Limit. moto then sorts, pages and filters that list as before. Leaving the
    other items out changes no answer while they cannot end a page by size: every item is at most
    ITEM_SIZE_LIMIT (moto refuses larger ones), so that holds whenever the matching items plus one item
    fit in RESULT_SIZE_LIMIT; otherwise moto's own listing is kept, as it is for index queries, legacy
    KeyConditions filters and scans."""
    from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table

    original_query: Callable[..., Any] = Table.query
    original_all_items: Callable[[Table], list[Any]] = Table.all_items

    def query(self: Table, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None or _legacy_filters(kwargs):
            return original_query(self, hash_key, *args, **kwargs)
        range_comparison = args[0] if args else kwargs.get("range_comparison")
        range_objs = args[1] if len(args) > 1 else kwargs.get("range_objs")
        conditions = kwargs.get("range_key_conditions")
        attribute = conditions[-1][0] if conditions else None
        condition = (range_comparison, range_objs, attribute) if range_comparison else None
        token = _QUERY_PARTITION.set((self, hash_key, condition))
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _QUERY_PARTITION.reset(token)

    def all_items(self: Table) -> list[Any]:
        queried = _QUERY_PARTITION.get()
        if queried is None or queried[0] is not self:
            return original_all_items(self)
        partition = self.items.get(queried[1])
        if partition is None:
            return []
        if not self.range_key_attr:
            return [partition]
        items = list(partition.values())
        if all(item.range_key.type == "S" for item in items):
            items.sort(key=lambda item: item.range_key.value)
        else:
            items.sort(key=lambda item: item.range_key)
        if queried[2] is None:
            return items
        meets = [_meets(item, *queried[2]) for item in items]
        if sum(item.size() for item, ok in zip(items, meets, strict=True) if ok) + ITEM_SIZE_LIMIT > RESULT_SIZE_LIMIT:
            return items
        last = len(items) - 1
        return [
            item
            for index, item in enumerate(items)
            if meets[index] or (index > 0 and meets[index - 1]) or (index < last and meets[index + 1])
        ]

    _patch(Table, "query", query)
    _patch(Table, "all_items", all_items)


_QUERY_KEYWORDS = frozenset({"range_comparison", "range_objs", "limit", "exclusive_start_key", "scan_index_forward"})
_QUERY_KEYWORDS |= {"projection_expressions", "index_name", "consistent_read", "filter_expression"}
_QUERY_KEYWORDS |= {"hash_key_conditions", "range_key_conditions"}


def _legacy_filters(kwargs: dict[str, Any]) -> bool:
    """Whether a Table.query call carries legacy KeyConditions filters (moto's `**filter_kwargs`)."""
    return any(key not in _QUERY_KEYWORDS for key in kwargs)


def _meets(item: Any, comparison: str, values: list[Any], attribute: str | None) -> bool:
    """moto's test of a base-table Query's range key condition on `item` (Table.query's loop)."""
    if attribute:
        value = item.attrs.get(attribute)
        if value:
            return _compare(value, comparison, values)
    return _compare(item.range_key, comparison, values)


def _compare(value: Any, comparison: str, values: list[Any]) -> bool:
    """DynamoType.compare; begins_with on two strings directly (moto's is `str.startswith` on the same values,
    reached through a comparison table and a cast per call: 11 µs, a million times in a 2,000-server run)."""
    if comparison == "BEGINS_WITH" and value.type == "S" and len(values) == 1 and values[0].type == "S":
        return bool(value.value.startswith(values[0].value))
    return bool(value.compare(comparison, values))


def _dynamodb_parse_update_expressions_once() -> None:
    """moto tokenizes and parses an UpdateExpression twice per UpdateItem (to check the placeholders,
    then to apply it), and the ledger writes a few dozen distinct expressions over and over. The parsed
    tree is only read: the validator that resolves it against the item works on its own deep copy.
    So each distinct expression is parsed once (an invalid one raises every time, as before)."""
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    make = UpdateExpressionParser.make
    cached = functools.lru_cache(maxsize=1024)(make)
    _patch(UpdateExpressionParser, "make", classmethod(lambda cls, expression_str: cached(expression_str)))


def _dynamodb_traversers_list_node_types_once() -> None:
    """moto validates an UpdateExpression with ten tree walks, and each asks, at every node, which node
    types it processes: a new dict of bound methods and a tuple of its keys, ~400 times per UpdateItem.
    The types are classes fixed by each walker's class, so they are listed once per class."""
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser  # type: ignore[attr-defined]

    listing: Callable[[Any], tuple[type, ...]] = DepthFirstTraverser.nodes_to_be_processed
    types_by_class: dict[type, tuple[type, ...]] = {}

    def nodes_to_be_processed(self: Any) -> tuple[type, ...]:
        types = types_by_class.get(type(self))
        if types is None:
            types = types_by_class[type(self)] = listing(self)
        return types

    _patch(DepthFirstTraverser, "nodes_to_be_processed", nodes_to_be_processed)


# ---- EventBridge -----------------------------------------------------------------------------------


def _events_deliver_untouched() -> None:
    """moto renders every rule target's input through a JSONPath template, even with no
    InputTransformer, re-parsing the paths on every event (most of put_events' time) and dropping
    `account`. EventBridge delivers the event itself then: so do we."""
    from moto.events.utils import EventTemplateParser

    original = EventTemplateParser.parse

    def parse(input_template: Any, input_paths_map: Any, event: Any) -> Any:
        if not input_template and not input_paths_map:
            return copy.deepcopy(event)
        return original(input_template, input_paths_map, event)

    _patch(EventTemplateParser, "parse", staticmethod(parse))


def _jsonpath_parse_once() -> None:
    """jsonpath_ng builds a new yacc parser for every path it parses. The archive's input template and
    every path of a state machine (ResultSelector, Choice, ItemsPath, Parameters, ResultPath: a dozen
    per wave launch) are parsed again on every use: ~1 ms each here. A parsed path is only read
    (`find`, `update_or_create` change the data, not the path), so each distinct path is parsed once."""
    import jsonpath_ng
    import jsonpath_ng.ext
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    extended = functools.lru_cache(maxsize=512)(getattr(jsonpath_ng.ext, "parse"))  # noqa: B009 - for mypy
    _patch(jsonpath_ng.ext, "parse", extended)  # moto.events imports it at each use
    _patch(json_path, "parse", extended)  # bound at import by moto's Step Functions
    _patch(result_path, "parse", functools.lru_cache(maxsize=512)(getattr(jsonpath_ng, "parse")))  # noqa: B009


# ---- SQS ---------------------------------------------------------------------------------------------


def _sqs_cheap_clock_reads() -> None:
    """moto's SQS asks the time twice per message whenever it looks at a queue (visible? delayed?),
    through datetime arithmetic (~2 us each): with a burst of Launch Result events queued (200 here),
    every send and receive walks them all, 12 % of the 1,000-server run. The same clock, read as a float."""
    from moto.sqs import models

    original = getattr(models, "unix_time_millis")  # noqa: B009 - not re-exported for mypy

    def unix_time_millis(dt: Any = None) -> float:
        return time.time() * 1000.0 if dt is None else float(original(dt))

    _patch(models, "unix_time_millis", unix_time_millis)


def _sqs_retention_read_directly() -> None:
    """moto's receive checks each message against the queue's retention period by asking for the queue's
    attributes, which builds all of them (the message counts walk every message in the queue): quadratic in
    a queue's backlog, 19 s of a 2,000-server run's profile. The period is the queue's own attribute, read
    directly; a queue without one keeps moto's path (and its error)."""
    from moto.sqs import models
    from moto.sqs.models import SQSBackend

    original: Callable[..., bool] = SQSBackend.is_message_valid_based_on_retention_period

    def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Any) -> bool:
        retention_period = getattr(self.get_queue(queue_name), "message_retention_period", None)  # set by moto
        if retention_period is None or isinstance(retention_period, bool):
            return original(self, queue_name, message)
        retain_until = retention_period + message.sent_timestamp / 1000
        return not retain_until <= getattr(models, "unix_time")()  # noqa: B009 - moto's clock, as it reads it

    _patch(SQSBackend, "is_message_valid_based_on_retention_period", is_message_valid_based_on_retention_period)


# ---- Step Functions --------------------------------------------------------------------------------


def _stepfunctions_parse_once() -> None:
    """moto parses the ASL (ANTLR) at every execution start: ~20-40 ms of every wave launch here. The
    parsed program is declarative (each execution evaluates it in its own Environment), so one parse
    per definition serves every execution."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    cached = functools.lru_cache(maxsize=32)(AmazonStateLanguageParser.parse)
    _patch(AmazonStateLanguageParser, "parse", staticmethod(cached))


def _stepfunctions_one_lambda_client() -> None:
    """moto builds a new boto3 client for every Lambda task (~5 ms each here); one per region serves."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    make_client = getattr(lambda_eval_utils, "boto_client_for")  # noqa: B009 - not re-exported for mypy

    @functools.lru_cache(maxsize=8)
    def cached_client(region: str, service: str) -> Any:
        return make_client(region=region, service=service, state_credentials=None)

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        del state_credentials  # moto accepts any credentials: one client per region and service
        return cached_client(region, service)

    _patch(lambda_eval_utils, "boto_client_for", client_for)


__all__ = ["install", "installed", "uninstall", "without_speedups"]
