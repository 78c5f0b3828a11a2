"""AWS Step Functions: state machines, executions and task tokens.

A task token is a bearer credential: it is passed in, never logged, never returned in an
error message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from controlplane.aws.clients import AwsTarget, client
from controlplane.aws.errors import translated

SERVICE = "stepfunctions"


@dataclass(frozen=True)
class ExecutionRef:
    arn: str
    started_at: datetime


@dataclass(frozen=True)
class ExecutionStatus:
    arn: str
    status: str  # RUNNING | SUCCEEDED | FAILED | TIMED_OUT | ABORTED | PENDING_REDRIVE
    started_at: datetime
    stopped_at: datetime | None
    output: Any
    error: str
    cause: str


@dataclass(frozen=True)
class HistoryEvent:
    id: int
    previous_id: int
    type: str
    timestamp: datetime
    details: dict


def execution_start(*, target: AwsTarget, state_machine_arn: str, name: str, input: dict) -> ExecutionRef:
    with translated(SERVICE, "StartExecution"):
        resp = client(SERVICE, target).start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(input)
        )
    return ExecutionRef(arn=resp["executionArn"], started_at=resp["startDate"])


def execution_describe(*, target: AwsTarget, execution_arn: str) -> ExecutionStatus:
    with translated(SERVICE, "DescribeExecution"):
        resp = client(SERVICE, target).describe_execution(executionArn=execution_arn)
    output = resp.get("output")
    return ExecutionStatus(
        arn=resp["executionArn"],
        status=resp["status"],
        started_at=resp["startDate"],
        stopped_at=resp.get("stopDate"),
        output=json.loads(output) if output else None,
        error=resp.get("error", "") or "",
        cause=resp.get("cause", "") or "",
    )


def execution_stop(*, target: AwsTarget, execution_arn: str, error: str, cause: str) -> None:
    with translated(SERVICE, "StopExecution"):
        client(SERVICE, target).stop_execution(executionArn=execution_arn, error=error[:256], cause=cause[:32768])


def execution_history(*, target: AwsTarget, execution_arn: str) -> list[HistoryEvent]:
    """The whole history, oldest first."""
    sfn = client(SERVICE, target)
    events: list[HistoryEvent] = []
    with translated(SERVICE, "GetExecutionHistory"):
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            for ev in page["events"]:
                details = next((v for k, v in ev.items() if k.endswith("EventDetails")), {})
                events.append(
                    HistoryEvent(
                        id=ev["id"],
                        previous_id=ev.get("previousEventId", 0),
                        type=ev["type"],
                        timestamp=ev["timestamp"],
                        details=details,
                    )
                )
    events.sort(key=lambda e: e.id)
    return events


def task_success(*, target: AwsTarget, task_token: str, output: dict) -> None:
    with translated(SERVICE, "SendTaskSuccess"):
        client(SERVICE, target).send_task_success(taskToken=task_token, output=json.dumps(output))


def task_failure(*, target: AwsTarget, task_token: str, error: str, cause: str) -> None:
    with translated(SERVICE, "SendTaskFailure"):
        client(SERVICE, target).send_task_failure(taskToken=task_token, error=error[:256], cause=cause[:32768])


def task_heartbeat(*, target: AwsTarget, task_token: str) -> None:
    with translated(SERVICE, "SendTaskHeartbeat"):
        client(SERVICE, target).send_task_heartbeat(taskToken=task_token)


# Codes that mean the token can never be used again: the gate is over.
TOKEN_GONE_CODES = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})
