"""Builds the cutover state machine (Amazon States Language, JSONPath) from a plan.

Per step: Gate (sqs:sendMessage.waitForTaskToken, TimeoutSeconds) -> Shift (Route 53
weights, the only writer of them) -> Record (the decision, with the approver's identity,
in one SSM parameter per gate) -> next step. Outputs of AWS SDK tasks are dropped
(ResultPath null): they are large and Route 53's carries a timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlanStep:
    target_weight: int  # percent of traffic to the target (EU) region, 0..100
    required_approvals: int = 1


def weights_for(*, environment, target_percent: int) -> dict[str, int]:
    """Route 53 weights for a step: out of 100, so a weight reads as a percentage."""
    if not 0 <= target_percent <= 100:
        raise ValueError(f"target weight {target_percent} is outside 0..100 %")
    return {environment.source_region: 100 - target_percent, environment.target_region: target_percent}


def gate_state_name(index: int) -> str:
    return f"Gate{index}"


def ssm_parameter_name(*, environment, execution_name: str, state_name: str) -> str:
    return f"{environment.ssm_prefix()}/{execution_name}/{state_name}"


def _change(*, environment, region: str, weight: int, value: str, health_check_id: str = "") -> dict:
    # An UPSERT replaces the whole record: repeat everything the routing stack set, the health
    # check included, or the first shift would detach it.
    record = {
        "Name": environment.record_name,
        "Type": "CNAME",
        "SetIdentifier": region,
        "Weight": weight,
        "TTL": environment.record_ttl,
        "ResourceRecords": [{"Value": value}],
    }
    if health_check_id:
        record["HealthCheckId"] = health_check_id
    return {"Action": "UPSERT", "ResourceRecordSet": record}


def definition_for(
    *,
    environment,
    steps: list[PlanStep],
    gate_timeout_seconds: int,
    gate_queue_url: str | None = None,
    hosted_zone_id: str | None = None,
    source_value: str | None = None,
    target_value: str | None = None,
    health_check_ids: dict[str, str] | None = None,
) -> dict:
    """The ASL. Queue URL, zone id and record values default to the environment's; the
    orchestration template passes CloudFormation references (``${GateQueue}``) instead."""
    if not steps:
        raise ValueError("a plan needs at least one step")
    gate_queue_url = gate_queue_url or environment.gate_queue_url
    hosted_zone_id = hosted_zone_id or environment.hosted_zone_id
    source_value = source_value or environment.source_endpoint
    target_value = target_value or environment.target_endpoint
    states: dict[str, dict] = {}
    for i, step in enumerate(steps, start=1):
        gate, shift, record = gate_state_name(i), f"Shift{i}", f"Record{i}"
        weights = weights_for(environment=environment, target_percent=step.target_weight)
        nxt = gate_state_name(i + 1) if i < len(steps) else "Done"
        states[gate] = {
            "Type": "Task",
            "Comment": f"Step {i}: approval to shift to {step.target_weight} % in {environment.target_region}",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {
                "QueueUrl": gate_queue_url,
                "MessageBody": {
                    "kind": "cutover-gate",
                    "taskToken.$": "$$.Task.Token",
                    "executionArn.$": "$$.Execution.Id",
                    "executionName.$": "$$.Execution.Name",
                    "stateName.$": "$$.State.Name",
                    "enteredTime.$": "$$.State.EnteredTime",
                    "step": i,
                    "targetWeights": weights,
                    "requiredApprovals": step.required_approvals,
                },
            },
            "TimeoutSeconds": gate_timeout_seconds,
            "ResultPath": "$.approval",
            "Next": shift,
        }
        states[shift] = {
            "Type": "Task",
            "Comment": "The state machine is the only writer of the weighted records",
            "Resource": "arn:aws:states:::aws-sdk:route53:changeResourceRecordSets",
            "Parameters": {
                "HostedZoneId": hosted_zone_id,
                "ChangeBatch": {
                    "Comment": f"cutover step {i}",
                    "Changes": [
                        _change(
                            environment=environment,
                            region=environment.source_region,
                            weight=weights[environment.source_region],
                            value=source_value,
                            health_check_id=(health_check_ids or {}).get(environment.source_region, ""),
                        ),
                        _change(
                            environment=environment,
                            region=environment.target_region,
                            weight=weights[environment.target_region],
                            value=target_value,
                            health_check_id=(health_check_ids or {}).get(environment.target_region, ""),
                        ),
                    ],
                },
            },
            "ResultPath": None,
            "Next": record,
        }
        states[record] = {
            "Type": "Task",
            "Comment": "One SSM parameter per gate: the decision, the approvers' IdP identities, the weights",
            "Resource": "arn:aws:states:::aws-sdk:ssm:putParameter",
            "Parameters": {
                "Name.$": f"States.Format('{environment.ssm_prefix()}/{{}}/{gate}', $$.Execution.Name)",
                "Value.$": "States.JsonToString($.approval)",
                "Type": "String",
                "Overwrite": True,
            },
            "ResultPath": None,
            "Next": nxt,
        }
    states["Done"] = {"Type": "Succeed"}
    return {
        "Comment": f"Cutover of {environment.name}: {environment.source_region} -> {environment.target_region}",
        "StartAt": gate_state_name(1),
        "TimeoutSeconds": 365 * 24 * 3600 - 60,
        "States": states,
    }
