"""`drs-orch`, the operator's command line: never shipped to Lambda, and the only user-facing code that may
import `localcloud` (to run a plan on the embedded local cloud).

`app` the typer application and the run, demo, timeline, inspect and control verbs (approve, deny, pause,
resume, cancel, retry, skip); `plan_verbs` validate and show; `report_verb` report; `cleanup_verb` cleanup;
`errors` how a command fails (one line and an exit code, never a traceback).
"""
