"""`python -m drs_orch ...` runs the `drs-orch` command line."""

from drs_orch.app import app

app(prog_name="drs-orch")
