"""Pages. Thin: parse, check the role, call one service or selector, render. No AWS calls."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from controlplane.accounts.models import Role
from controlplane.accounts.permissions import role_required
from migrations_app import selectors, services
from migrations_app.errors import CutoverError, NotAllowed
from migrations_app.forms import ApproveForm, RejectForm
from migrations_app.models import Environment, Execution, Gate

ANY_ROLE = (Role.ENGINEER, Role.APPROVER, Role.AUDITOR)


@role_required(*ANY_ROLE)
def home(request):
    return render(
        request,
        "migrations_app/home.html",
        {
            "environments": selectors.environment_list(),
            "waiting_gates": selectors.gate_list_waiting(),
            "executions": selectors.execution_list(limit=10),
        },
    )


@role_required(*ANY_ROLE)
def environment_detail(request, name: str):
    environment = get_object_or_404(Environment, name=name)
    return render(
        request,
        "migrations_app/environment_detail.html",
        {"environment": environment, "executions": selectors.execution_list(environment=environment)},
    )


@require_POST
@role_required(Role.ENGINEER)
def execution_start(request, name: str):
    environment = get_object_or_404(Environment, name=name)
    try:
        execution = services.execution_start(environment=environment, actor=request.user)
    except CutoverError as exc:
        messages.error(request, str(exc))
        return redirect("environment-detail", name=name)
    messages.success(request, f"Cutover {execution.name} is starting.")
    return redirect("execution-detail", pk=execution.pk)


def _execution_context(pk: int) -> dict:
    try:
        execution = selectors.execution_get(pk=pk)
    except Execution.DoesNotExist:
        raise Http404("No such execution") from None
    return {"execution": execution, "audit_events": selectors.execution_audit_trail(execution=execution)}


@role_required(*ANY_ROLE)
def execution_detail(request, pk: int):
    return render(request, "migrations_app/execution_detail.html", _execution_context(pk))


@role_required(*ANY_ROLE)
def execution_live(request, pk: int):
    """The live part of the execution page, polled by htmx."""
    return render(request, "migrations_app/_execution_live.html", _execution_context(pk))


def _gate_context(request, gate: Gate) -> dict:
    user = request.user
    may_decide = (
        gate.is_open
        and user.has_role(Role.APPROVER)
        and gate.execution.started_by_id != user.pk
        and not any(a.approver_id == user.pk for a in gate.approvals.all())
    )
    if gate.is_open and user.has_role(Role.APPROVER) and gate.execution.started_by_id == user.pk:
        refusal = "You started this cutover, so someone else must approve it (four-eyes rule)."
    elif gate.is_open and any(a.approver_id == user.pk for a in gate.approvals.all()):
        refusal = "You have approved this gate; it needs another approver."
    else:
        refusal = ""
    return {
        "gate": gate,
        "execution": gate.execution,
        "environment": gate.execution.environment,
        "may_decide": may_decide,
        "refusal": refusal,
        "approve_form": ApproveForm(),
        "reject_form": RejectForm(),
    }


@role_required(*ANY_ROLE)
def gate_detail(request, pk: int):
    try:
        gate = selectors.gate_get(pk=pk)
    except Gate.DoesNotExist:
        raise Http404("No such gate") from None
    return render(request, "migrations_app/gate_detail.html", _gate_context(request, gate))


@role_required(*ANY_ROLE)
def gate_live(request, pk: int):
    """The live part of the gate page (status and delivery), polled by htmx."""
    try:
        gate = selectors.gate_get(pk=pk)
    except Gate.DoesNotExist:
        raise Http404("No such gate") from None
    return render(request, "migrations_app/_gate_live.html", {"gate": gate})


@require_POST
@role_required(Role.APPROVER)
def gate_decide(request, pk: int):
    gate = get_object_or_404(Gate, pk=pk)
    decision = request.POST.get("decision")
    try:
        if decision == "approve":
            form = ApproveForm(request.POST)
            if not form.is_valid():
                raise CutoverError("The comment is too long (2,000 characters at most).")
            services.gate_approve(gate=gate, actor=request.user, comment=form.cleaned_data["comment"])
            messages.success(request, "Approved. The decision is being delivered to Step Functions.")
        elif decision == "reject":
            form = RejectForm(request.POST)
            if not form.is_valid():
                raise CutoverError("A rejection needs a reason (2,000 characters at most).")
            services.gate_reject(gate=gate, actor=request.user, reason=form.cleaned_data["reason"])
            messages.success(request, "Rejected. The cutover will stop at this gate.")
        else:
            raise CutoverError("Choose approve or reject.")
    except CutoverError as exc:
        messages.error(request, str(exc))
        status = 403 if isinstance(exc, NotAllowed) else 409
        gate = selectors.gate_get(pk=pk)
        return render(request, "migrations_app/gate_detail.html", _gate_context(request, gate), status=status)
    return redirect("gate-detail", pk=pk)
