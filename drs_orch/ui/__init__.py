"""`drs-orch ui`: the live web dashboard of a local run or a deployed stack (issue #17), served on 127.0.0.1."""
