"""Read-side code for the operator, never shipped to Lambda: `report` (an execution's report from the
ledger), `timeline` (that report drawn as an SVG Gantt chart), `inspect` (an execution rebuilt from the
bus archive's events and compared with the ledger)."""
