"""What the ledger holds, as typed records, one module per kind of item (the ledger adapter maps items to them).

    waves.py    an execution, a wave, one attempt of a wave and its times (ATTEMPT_TIMES), its DRS jobs

The names most steps use are re-exported here; a record of another kind is imported from its own module.
"""

from orchestrator.domain.records.waves import (
    ATTEMPT_TIMES,
    REOPEN_CLEARS,
    RETRY_CLEARS,
    ExecutionRecord,
    WaveAttempt,
    WaveJob,
    WaveRecord,
)

__all__ = [
    "ATTEMPT_TIMES",
    "REOPEN_CLEARS",
    "RETRY_CLEARS",
    "ExecutionRecord",
    "WaveAttempt",
    "WaveJob",
    "WaveRecord",
]
