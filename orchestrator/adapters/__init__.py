"""Adapters: the AWS services the steps use, each behind a small class that takes its boto3 client.

`ledger` the DynamoDB table (executions, waves, launches, scripts, decisions, capacity); `drs` Elastic
Disaster Recovery; `ssm` Systems Manager Run Command; `bus` EventBridge PutEvents; `scheduler` EventBridge
Scheduler one-shot ticks; `pagination` the paginator loop they share. The steps call AWS only through
these (`orchestrator.runtime` builds the clients).
"""
