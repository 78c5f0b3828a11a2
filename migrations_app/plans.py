"""Cutover plans: the default from settings, and conversion between rows and the builder's Plan."""

from __future__ import annotations

from django.conf import settings

from migrations_app.statemachine import Plan, PlanStep


def plan_default() -> Plan:
    """The design's default: 0 → 10 → 25 → 50 → 90 → 100 %, two approvers for 100 % and for
    closing the window."""
    weights = [int(w) for w in settings.CUTOVER_DEFAULT_STEPS]
    return Plan(
        steps=[
            PlanStep(
                target_weight=w,
                required_approvals=2 if w == 100 else 1,
                soak_seconds=settings.CUTOVER_DEFAULT_SOAK_SECONDS if w < 100 else 0,
            )
            for w in weights
        ],
        window_seconds=settings.CUTOVER_WINDOW_SECONDS,
        close_required_approvals=2,
    )


def plan_from_row(row) -> Plan:
    return Plan(
        steps=[
            PlanStep(
                target_weight=int(s["target_weight"]),
                required_approvals=int(s.get("required_approvals", 1)),
                soak_seconds=int(s.get("soak_seconds", 0)),
            )
            for s in row.steps
        ],
        window_seconds=row.window_seconds,
        close_required_approvals=row.close_required_approvals,
    )


def plan_steps_as_data(plan: Plan) -> list[dict]:
    return [
        {"target_weight": s.target_weight, "required_approvals": s.required_approvals, "soak_seconds": s.soak_seconds}
        for s in plan.steps
    ]
