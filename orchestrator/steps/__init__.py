"""The choreography steps: what each event does, one module per step, named like the handler that runs it.

A step receives the `Runtime` (ledger, bus, DRS, SSM, scheduler, clock) and a parsed event, and makes the
one transition the event asks for, at most once however often the event arrives.

Steps, in the order a wave meets them: `start_plan` (StartPlan), `pre_launch` (WaveReady: approval gate,
preflight, pre-launch scripts), `launch_wave` (the wave launch state machine's tasks; CapacityTick),
`job_watcher` (DRSJobStarted, JobWatchTick, aws.drs launch results), `post_launch` (DRSJobCompleted:
judge the launch, post-launch scripts), `progress` (PostLaunchDone, WaveFailed: close the wave, release
dependents, close the plan), `control` (operator commands), `cleanup` (rollback, drill time to live,
terminate on cancel).

Shared by the steps: `scripts` (SSM scripts of either phase, their ticks and aws.ssm status events),
`approval`, `preflight`, `capacity` (the DRS quotas shared by every execution), `refusals`,
`wave_failure`, `handler_failures`, `references` (does an event name what exists).
"""
