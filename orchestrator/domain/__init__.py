"""The domain: what a recovery plan is and the pure rules of running one, free of AWS and of the ledger.

`plan/` the plan model, loading and validation; `clock` time as a port and the one time format;
`execution` execution ids and an execution's frozen plan; `launch_judgement` whether a wave launched
well enough and how a failure names its servers; `status` the execution and wave statuses, their groups and
the one table of which status may follow which (the ledger enforces it).
"""
