"""Read-side code for the operator, never shipped to Lambda: `report` (an execution's report from the
ledger), `timeline` (that report drawn as an SVG Gantt chart), `html` (that report as the HTML evidence report,
from the Jinja2 templates in `templates/`, with `graph_svg`, the waves' dependency graph), `inspect` (an
execution rebuilt from the bus archive's events and compared with the ledger)."""
