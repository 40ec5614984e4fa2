"""What ships to Lambda, by role: `domain/` (the plan and the pure rules of a run), `steps/` (one module per
choreography step), `adapters/` (the AWS services), `reporting/` (the operator's read side, the one
subpackage not shipped); `runtime`, `config` and `observability` wire them for a handler."""
