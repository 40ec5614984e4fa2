"""The randomized, model-checked campaign (issue #11): seeded random plans and simulation profiles
(`generator`), an independent model of how each run must end (`model`), the run on the local cloud
(`observe`), the invariants (`oracle`) and the known root causes (`known`). `make chaos` runs it;
`tests/chaos/test_campaign.py` runs a fixed slice of seeds in `make test`."""
