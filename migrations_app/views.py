"""Pages. Thin: parse, check the role, call one service or selector, render. No AWS calls."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from controlplane.accounts.models import Role
from controlplane.accounts.permissions import role_required
from controlplane.aws import AwsError
from migrations_app import deployments, selectors, services
from migrations_app.errors import CutoverError, NotAllowed
from migrations_app.forms import ApproveForm, EnvironmentForm, RejectForm, StopForm
from migrations_app.models import Deployment, Environment, Execution, Gate, StackDeployment
from migrations_app.stacks import BOOTSTRAP_ORDER

ANY_ROLE = (Role.ENGINEER, Role.APPROVER, Role.AUDITOR)


class _InvalidInput(CutoverError):
    """What the person sent is not valid (400), as opposed to a rule refusing it (409)."""


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
    from migrations_app.template_policy import template_policy_check

    return render(
        request,
        "migrations_app/environment_detail.html",
        {
            "environment": environment,
            "executions": selectors.execution_list(environment=environment),
            "deployment": selectors.deployment_latest(environment=environment),
            "stacks_deployed": selectors.stacks_deployed(environment=environment),
            "bootstrap_order": [(s, environment.region_for(s.region_role)) for s in BOOTSTRAP_ORDER],
            "policy_findings": template_policy_check(),
        },
    )


@role_required(Role.ENGINEER)
def environment_create(request):
    form = EnvironmentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if Environment.objects.filter(name=form.cleaned_data["name"]).exists():
            form.add_error("name", "An environment with this name exists.")
        else:
            env = services.environment_create(actor=request.user, **form.cleaned_data)
            messages.success(request, f"Environment {env.name} created. Deploy its stacks next.")
            return redirect("environment-detail", name=env.name)
    return render(request, "migrations_app/environment_form.html", {"form": form}, status=400 if form.errors else 200)


@require_POST
@role_required(Role.ENGINEER)
def deployment_create(request, name: str):
    environment = get_object_or_404(Environment, name=name)
    stack_key = request.POST.get("stack", "")
    try:
        deployments.deployment_start(
            environment=environment, actor=request.user, stack_keys=[stack_key] if stack_key else None
        )
    except CutoverError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Deployment started: change sets are being created in bootstrap order.")
    return redirect("environment-detail", name=name)


@require_POST
@role_required(Role.ENGINEER)
def stack_confirm(request, pk: int):
    stack = get_object_or_404(StackDeployment.objects.select_related("deployment__environment"), pk=pk)
    try:
        deployments.stack_deployment_confirm(stack=stack, actor=request.user)
    except CutoverError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Executing the change set of {stack.stack_name}.")
    return redirect("environment-detail", name=stack.deployment.environment.name)


@role_required(*ANY_ROLE)
def environment_deployment_live(request, name: str):
    environment = get_object_or_404(Environment, name=name)
    return render(
        request,
        "migrations_app/_deployment_live.html",
        {"environment": environment, "deployment": selectors.deployment_latest(environment=environment)},
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
    from migrations_app.checks import checks_registered

    order = {spec.key: i for i, spec in enumerate(checks_registered())}
    checks = sorted(gate.checks.all(), key=lambda c: (order.get(c.key, len(order)), c.key))
    fresh_after = timezone.now() - timedelta(seconds=settings.APPROVAL_FRESH_AUTH_SECONDS)
    return {
        "gate": gate,
        "checks": checks,
        "blocking": [c for c in checks if c.blocks],
        "needs_fresh_sign_in": user.idp_authenticated_at is None or user.idp_authenticated_at < fresh_after,
        "approvals_needed": max(gate.required_approvals, 2)
        if any(a.override for a in gate.approvals.all()) or any(c.blocks for c in checks)
        else gate.required_approvals,
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
                raise _InvalidInput("The comment is too long (2,000 characters at most).")
            services.gate_approve(
                gate=gate,
                actor=request.user,
                comment=form.cleaned_data["comment"],
                override_reason=form.cleaned_data["override_reason"],
            )
            messages.success(request, "Approved. The decision is being delivered to Step Functions.")
        elif decision == "reject":
            form = RejectForm(request.POST)
            if not form.is_valid():
                raise _InvalidInput("A rejection needs a reason (2,000 characters at most).")
            services.gate_reject(gate=gate, actor=request.user, reason=form.cleaned_data["reason"])
            messages.success(request, "Rejected. The cutover will stop at this gate.")
        else:
            raise _InvalidInput("Choose approve or reject.")
    except services.ReauthenticationRequired as exc:
        messages.info(request, str(exc))
        return redirect(f"{settings.LOGIN_URL}?next={reverse('gate-detail', args=[pk])}")
    except CutoverError as exc:
        messages.error(request, str(exc))
        status = 403 if isinstance(exc, NotAllowed) else 400 if isinstance(exc, _InvalidInput) else 409
        gate = selectors.gate_get(pk=pk)
        return render(request, "migrations_app/gate_detail.html", _gate_context(request, gate), status=status)
    return redirect("gate-detail", pk=pk)


@require_POST
@role_required(Role.ENGINEER)
def s3_backfill(request, name: str):
    environment = get_object_or_404(Environment, name=name)
    try:
        services.environment_s3_backfill_request(environment=environment, actor=request.user)
    except CutoverError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Backfill started: missing documents are being copied to the replica bucket.")
    return redirect("environment-detail", name=name)


@require_POST
@role_required(Role.ENGINEER)
def execution_stop(request, pk: int):
    execution = get_object_or_404(Execution, pk=pk)
    form = StopForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Stopping a cutover needs a reason (2,000 characters at most).")
        return render(request, "migrations_app/execution_detail.html", _execution_context(pk), status=400)
    try:
        services.execution_stop(execution=execution, actor=request.user, reason=form.cleaned_data["reason"])
    except CutoverError as exc:
        messages.error(request, str(exc))
    except AwsError as exc:
        messages.error(request, f"Step Functions did not stop the cutover ({exc}); nothing was changed. Try again.")
    else:
        messages.success(request, "The cutover is stopped. The weights stay where the last approved step put them.")
    return redirect("execution-detail", pk=pk)


@require_POST
@role_required(*ANY_ROLE)
def gate_evidence_refresh(request, pk: int):
    """Ask for fresh evidence now (collected by a worker; the page shows it when it lands)."""
    gate = get_object_or_404(Gate, pk=pk)
    services.gate_evidence_request(gate=gate)
    messages.info(request, "Collecting fresh evidence; the page updates when it arrives.")
    return redirect("gate-detail", pk=pk)


@require_POST
@role_required(Role.ENGINEER)
def deployment_cancel(request, pk: int):
    deployment = get_object_or_404(Deployment.objects.select_related("environment"), pk=pk)
    try:
        deployments.deployment_cancel(deployment=deployment, actor=request.user, reason=request.POST.get("reason", ""))
    except CutoverError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Deployment {deployment.pk} cancelled.")
    return redirect("environment-detail", name=deployment.environment.name)
