"""HTTP plumbing of the SSM Run Command simulator: per-operation botocore hooks and JSON 1.1 errors.

SSM speaks JSON 1.1 (``POST /`` with ``X-Amz-Target: AmazonSSM.<Operation>``). moto serves most of
SSM (parameters, ...), so the simulator hooks only the Run Command operations, one botocore event per
operation (``before-send.ssm.SendCommand``, ...). botocore calls the most specific handlers first, so
these answer before moto's generic ``before-send`` stubber; every other SSM call still reaches moto.

The response helpers are the DRS simulator's (:mod:`localcloud.drs_sim_wire`); a JSON 1.1 error only
differs by carrying its code in the body's ``__type`` member.
"""

from __future__ import annotations

from localcloud.botocore_hook import GlobalHook, Handles
from localcloud.drs_sim_wire import DrsError, error_response, json_response

__all__ = [
    "OPERATIONS",
    "SsmError",
    "current_simulator",
    "error_response",
    "event_names",
    "install_globally",
    "json_response",
    "uninstall_globally",
]

OPERATIONS = (
    "SendCommand",
    "GetCommandInvocation",
    "ListCommandInvocations",
    "ListCommands",
    "CancelCommand",
    "DescribeInstanceInformation",
    "DescribeDocument",
    "GetDocument",
    # SSM Automation (localcloud/ssm_automation.py, served by the same simulator)
    "StartAutomationExecution",
    "GetAutomationExecution",
    "StopAutomationExecution",
    "DescribeAutomationExecutions",
)
_UNIQUE_ID = "localcloud-ssm-simulator"


def event_names() -> list[str]:
    return [f"before-send.ssm.{operation}" for operation in OPERATIONS]


class SsmError(DrsError):
    """A JSON 1.1 SSM error (``{"__type": code, "message": ...}``), rendered by the shared ``error_response``.

    It reuses :class:`DrsError`'s shape (code, message, headers, fields, status) without its list of
    DRS codes: SSM answers every client error with HTTP 400.
    """

    def __init__(self, code: str, message: str, *, status: int = 400) -> None:
        Exception.__init__(self, f"{code}: {message}")  # DrsError.__init__ only knows DRS codes
        self.code = code
        self.message = message
        self.headers = {}
        self.fields = {"__type": code}
        self._status = status

    @property
    def status(self) -> int:
        return self._status


_hook = GlobalHook(event_names(), _UNIQUE_ID)


def install_globally(simulator: Handles) -> None:
    """Serve the Run Command operations of every boto3 ``ssm`` client created from now on (and of
    boto3's default session) by ``simulator``; other SSM operations are untouched.

    Calling it again swaps the simulator; clients already made keep dispatching to the current one.
    """
    _hook.install(simulator)


def uninstall_globally() -> None:
    """Stop serving Run Command globally: later clients talk to moto or the network again."""
    _hook.uninstall()


def current_simulator() -> Handles | None:
    return _hook.current
