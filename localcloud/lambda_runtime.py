"""Lambda without Docker: answer `lambda:Invoke` in-process by calling our handler function.

moto runs Lambda only in Docker. A botocore `before-send.lambda.Invoke` handler, registered for every
client (the state machine's too), runs the handler module the function name points at and answers with
the payload, or with `X-Amz-Function-Error: Unhandled` and `{errorType, errorMessage}` when it raises,
exactly what the state machine's Retry and Catch match on.
"""

from __future__ import annotations

import importlib
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from infra.definitions import FUNCTIONS
from localcloud.botocore_hook import GlobalHook
from localcloud.call_record import invoking
from localcloud.lambda_sim import LambdaSimulator, function_not_found, invoke_payload
from orchestrator.observability import metrics

EVENT_NAME = "before-send.lambda.Invoke"
ACCOUNT = "123456789012"
REGION = "us-east-1"

Handler = Callable[[dict[str, Any], Any], Any]


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:drs-orch-{name}"


@dataclass
class LambdaContext:
    function_name: str
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class LambdaRuntime:
    """Runs our handler modules as the functions of `infra.definitions.FUNCTIONS`, one at a time.

    One lock serialises every invocation (state machine threads and the dispatcher alike), which keeps
    moto's in-memory services consistent; DynamoDB's conditional writes still decide every race.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.invocations: dict[str, int] = {}
        self.errors: dict[str, int] = {}
        self.seconds: dict[str, float] = {}  # real time spent in each function (for cost and overhead)
        self._handlers: dict[str, Handler] = {}
        self.before_invoke: Callable[[str, dict[str, Any]], None] | None = None
        # the user functions of LAMBDA steps (localcloud/lambda_sim.py): an Invoke of one of them goes there
        self.simulated: LambdaSimulator | None = None

    def handler_for(self, name: str) -> Handler:
        if name not in self._handlers:
            module = importlib.import_module(f"handlers.{FUNCTIONS[name].module}")
            self._handlers[name] = module.handler
        return self._handlers[name]

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        """Call function `name` with `event`; exceptions propagate."""
        handler = self.handler_for(name)
        context = LambdaContext(
            function_name=f"drs-orch-{name}",
            invoked_function_arn=function_arn(name),
            memory_limit_in_mb=FUNCTIONS[name].memory_mb,
        )
        with self.lock:
            self.invocations[name] = self.invocations.get(name, 0) + 1
            if self.before_invoke is not None:
                self.before_invoke(name, event)
            started = time.perf_counter()
            try:
                with invoking(name):  # the AWS calls made meanwhile are this function's (localcloud.call_record)
                    return handler(event, context)
            except Exception:
                self.errors[name] = self.errors.get(name, 0) + 1
                raise
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
                # CloudWatch is not simulated: drop what the invocation recorded (EMF output would
                # otherwise pile up and print when Powertools auto-flushes at 100 values)
                metrics.clear_metrics()

    # ---- the botocore hook -----------------------------------------------------------------------

    def handle_invoke(self, request: Any, **_: Any) -> Any:
        url = str(request.url)
        name = url.split("/functions/", 1)[1].split("/", 1)[0]
        name = name.rsplit(":", 1)[-1] if name.startswith("arn") else name
        from urllib.parse import unquote

        name = unquote(name)
        if self.simulated is not None and self.simulated.serves(name):
            return self.simulated.handle(request)
        if name.startswith("arn:"):
            name = name.split(":")[6]
        short = name.removeprefix("drs-orch-")
        if short not in FUNCTIONS:
            return function_not_found(url, name)
        payload = invoke_payload(request)
        try:
            result = self.invoke(short, payload)
        except Exception as exc:  # the Lambda service reports any exception as a function error
            error = {
                "errorType": type(exc).__name__,
                "errorMessage": str(exc),
                "stackTrace": traceback.format_exception(exc)[-3:],
            }
            return _raw_response(
                url,
                json.dumps(error).encode(),
                {"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": "$LATEST"},
            )
        return _raw_response(url, json.dumps(result).encode(), {"X-Amz-Executed-Version": "$LATEST"})


def _raw_response(url: str, payload: bytes, headers: dict[str, str]) -> Any:
    from botocore.awsrequest import AWSResponse

    from localcloud.drs_sim_wire import _RawBody

    return AWSResponse(url, 200, {"Content-Type": "application/json", **headers}, _RawBody(payload))


_hook = GlobalHook([EVENT_NAME], "localcloud-lambda-runtime")


def install_globally(runtime: LambdaRuntime) -> None:
    _hook.install(_InvokeServer(runtime))


def uninstall_globally() -> None:
    _hook.uninstall()


class _InvokeServer:
    def __init__(self, runtime: LambdaRuntime) -> None:
        self._runtime = runtime

    def handle(self, request: Any, **kwargs: Any) -> Any:
        return self._runtime.handle_invoke(request, **kwargs)
