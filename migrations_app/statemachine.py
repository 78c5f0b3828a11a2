"""Builds the cutover state machine (Amazon States Language, JSONPath) from a plan.

Per step i:  Gate_i (sqs:sendMessage.waitForTaskToken, TimeoutSeconds)
          -> Shift_i (Route 53 weights: the state machine is their only writer)
          -> Record_i (the decision and the approvers' IdP identities, one SSM parameter per gate)
          -> Soak_i (Wait) -> next step.
After the last (100 %) step: Window (Wait, the post-cutover window) -> CloseWindow gate ->
RecordClose -> Done. Rejecting the close gate waits once more and asks again.

A rejected, timed-out or failed step goes to Rollback_i: the weights of the last approved step
(the plan's start for step 1) are written back, the failure is recorded in SSM like any shift,
and the execution fails. Outputs of AWS SDK tasks are dropped (ResultPath null): they are large
and Route 53's carries a timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# After a rejected close gate, wait this long (or the window, if shorter) before asking again.
CLOSE_RETRY_SECONDS = 3600


@dataclass(frozen=True)
class PlanStep:
    target_weight: int  # percent of traffic to the target (EU) region, 0..100
    required_approvals: int = 1
    soak_seconds: int = 0


@dataclass(frozen=True)
class Plan:
    steps: list[PlanStep] = field(default_factory=list)
    window_seconds: int = 72 * 3600
    close_required_approvals: int = 2


class PlanInvalid(ValueError):
    """A plan the state machine cannot be built from; the message says why."""


def plan_validate(plan: Plan) -> None:
    if not plan.steps:
        raise PlanInvalid("a plan needs at least one step")
    previous = -1
    for number, step in enumerate(plan.steps, start=1):
        if not 0 <= step.target_weight <= 100:
            raise PlanInvalid(f"step {number}: target weight {step.target_weight} is outside 0..100 %")
        if step.target_weight < previous:
            raise PlanInvalid(
                f"step {number}: {step.target_weight} % goes back from {previous} %; use a rejection to roll back"
            )
        if not 1 <= step.required_approvals <= 5:
            raise PlanInvalid(f"step {number}: required approvals must be 1 to 5")
        if not 0 <= step.soak_seconds <= 7 * 24 * 3600:
            raise PlanInvalid(f"step {number}: soak must be 0 to 7 days")
        previous = step.target_weight
    if plan.steps[-1].target_weight != 100:
        raise PlanInvalid(f"the last step must send 100 % to the target region, not {plan.steps[-1].target_weight} %")
    if not 0 <= plan.window_seconds <= 30 * 24 * 3600:
        raise PlanInvalid("the post-cutover window must be 0 to 30 days")
    if not 1 <= plan.close_required_approvals <= 5:
        raise PlanInvalid("closing the window needs 1 to 5 approvers")


def weights_for(*, environment, target_percent: int) -> dict[str, int]:
    """Route 53 weights for a step: out of 100, so a weight reads as a percentage."""
    if not 0 <= target_percent <= 100:
        raise PlanInvalid(f"target weight {target_percent} is outside 0..100 %")
    return {environment.source_region: 100 - target_percent, environment.target_region: target_percent}


def gate_state_name(index: int) -> str:
    return f"Gate{index}"


CLOSE_GATE = "CloseWindow"


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
    plan: Plan,
    gate_timeout_seconds: int,
    gate_queue_url: str | None = None,
    hosted_zone_id: str | None = None,
    source_value: str | None = None,
    target_value: str | None = None,
    health_check_ids: dict[str, str] | None = None,
) -> dict:
    """The ASL. Queue URL, zone id and record values default to the environment's; the
    orchestration template passes CloudFormation references (``${GateQueue}``) instead."""
    plan_validate(plan)
    gate_queue_url = gate_queue_url or environment.gate_queue_url
    hosted_zone_id = hosted_zone_id or environment.hosted_zone_id
    values = {
        environment.source_region: source_value or environment.source_endpoint,
        environment.target_region: target_value or environment.target_endpoint,
    }
    checks = health_check_ids or {}
    prefix = environment.ssm_prefix()

    def shift(weights: dict[str, int], comment: str, nxt: str) -> dict:
        return {
            "Type": "Task",
            "Comment": comment,
            "Resource": "arn:aws:states:::aws-sdk:route53:changeResourceRecordSets",
            "Parameters": {
                "HostedZoneId": hosted_zone_id,
                "ChangeBatch": {
                    "Comment": comment,
                    "Changes": [
                        _change(
                            environment=environment,
                            region=region,
                            weight=weights[region],
                            value=values[region],
                            health_check_id=checks.get(region, ""),
                        )
                        for region in (environment.source_region, environment.target_region)
                    ],
                },
            },
            "ResultPath": None,
            "Next": nxt,
        }

    def record(parameter: str, value_path: str, nxt: str) -> dict:
        return {
            "Type": "Task",
            "Comment": "One SSM parameter per gate: the decision, the approvers' IdP identities, the weights",
            "Resource": "arn:aws:states:::aws-sdk:ssm:putParameter",
            "Parameters": {
                "Name.$": f"States.Format('{prefix}/{{}}/{parameter}', $$.Execution.Name)",
                "Value.$": f"States.JsonToString({value_path})",
                "Type": "String",
                "Overwrite": True,
            },
            "ResultPath": None,
            "Next": nxt,
        }

    def gate(*, kind: str, step: int, weights: dict[str, int], required: int, nxt: str, catch_to: str | None) -> dict:
        state = {
            "Type": "Task",
            "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {
                "QueueUrl": gate_queue_url,
                "MessageBody": {
                    "kind": kind,
                    "taskToken.$": "$$.Task.Token",
                    "executionArn.$": "$$.Execution.Id",
                    "executionName.$": "$$.Execution.Name",
                    "stateName.$": "$$.State.Name",
                    "enteredTime.$": "$$.State.EnteredTime",
                    "step": step,
                    "targetWeights": weights,
                    "requiredApprovals": required,
                },
            },
            "TimeoutSeconds": gate_timeout_seconds,
            "ResultPath": "$.approval",
            "Next": nxt,
        }
        if catch_to:
            state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": catch_to}]
        return state

    states: dict[str, dict] = {}
    start_weights = weights_for(environment=environment, target_percent=0)
    last_approved = start_weights
    for i, step in enumerate(plan.steps, start=1):
        name = gate_state_name(i)
        weights = weights_for(environment=environment, target_percent=step.target_weight)
        after_record = (
            f"Soak{i}" if step.soak_seconds else (gate_state_name(i + 1) if i < len(plan.steps) else "Window")
        )
        nxt = gate_state_name(i + 1) if i < len(plan.steps) else "Window"
        rollback = f"Rollback{i}"
        states[name] = gate(
            kind="step", step=i, weights=weights, required=step.required_approvals, nxt=f"Shift{i}", catch_to=rollback
        )
        states[name]["Comment"] = f"Step {i}: approval to send {step.target_weight} % to {environment.target_region}"
        states[f"Shift{i}"] = shift(weights, f"cutover step {i}: {step.target_weight} %", f"Record{i}")
        states[f"Shift{i}"]["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": rollback}]
        states[f"Record{i}"] = record(name, "$.approval", after_record)
        if step.soak_seconds:
            states[f"Soak{i}"] = {"Type": "Wait", "Seconds": step.soak_seconds, "Next": nxt}
        # Rejected, timed out or failed: back to the weights of the last approved step.
        states[rollback] = shift(last_approved, f"rollback of step {i}", f"RecordRollback{i}")
        states[f"RecordRollback{i}"] = record(f"{name}-rollback", "$.failure", "RolledBack")
        last_approved = weights
    final = last_approved
    states["Window"] = {
        "Type": "Wait",
        "Comment": "The post-cutover window: reconciliation runs while it lasts",
        "Seconds": plan.window_seconds,
        "Next": CLOSE_GATE,
    }
    states[CLOSE_GATE] = gate(
        kind="close_window",
        step=len(plan.steps) + 1,
        weights=final,
        required=plan.close_required_approvals,
        nxt="RecordClose",
        catch_to="WindowExtended",
    )
    states[CLOSE_GATE]["Comment"] = "Close the post-cutover window: needs zero open reconciliation findings"
    states["WindowExtended"] = {
        "Type": "Wait",
        "Comment": "Closing was refused: wait, then ask again",
        "Seconds": min(CLOSE_RETRY_SECONDS, max(plan.window_seconds, 1)),
        "Next": CLOSE_GATE,
    }
    states["RecordClose"] = record(CLOSE_GATE, "$.approval", "Done")
    states["Done"] = {"Type": "Succeed"}
    states["RolledBack"] = {
        "Type": "Fail",
        "Error": "CutoverRolledBack",
        "Cause": "a gate was rejected, timed out or failed",
    }
    return {
        "Comment": f"Cutover of {environment.name}: {environment.source_region} -> {environment.target_region}",
        "StartAt": gate_state_name(1),
        "TimeoutSeconds": 365 * 24 * 3600 - 60,
        "States": states,
    }
