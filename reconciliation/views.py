"""Pages of reconciliation: runs, one run, findings (acknowledge and resolve through the same
services as the API). Read from the database only: the job has snapshotted AWS already."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from controlplane.accounts.models import Role
from controlplane.accounts.permissions import role_required
from migrations_app.errors import CutoverError, NotAllowed
from migrations_app.models import Environment
from reconciliation import selectors, services
from reconciliation.models import Finding, ReconciliationRun

READ_ROLES = (Role.ENGINEER, Role.APPROVER, Role.AUDITOR)
STATUS_FILTERS = ("unresolved", *Finding.Status.values)


def _environment(request) -> Environment | None:
    name = request.GET.get("environment", "")
    return Environment.objects.filter(name=name).first() if name else None


def _may_act(user) -> bool:
    return any(user.has_role(r) for r in services.FINDING_ROLES)


@require_GET
@role_required(*READ_ROLES)
def run_list(request):
    environment = _environment(request)
    return render(
        request,
        "reconciliation/run_list.html",
        {
            "runs": selectors.run_list(environment=environment),
            "environment": environment,
            "environments": Environment.objects.order_by("name"),
        },
    )


@require_GET
@role_required(*READ_ROLES)
def run_detail(request, pk: int):
    run = get_object_or_404(ReconciliationRun.objects.select_related("environment"), pk=pk)
    findings = Finding.objects.filter(environment=run.environment, window_start=run.window_start).order_by("kind", "pk")
    return render(
        request,
        "reconciliation/run_detail.html",
        {
            "run": run,
            "findings": findings,
            "counts": sorted(run.counts.items()),
            "window_counts": run.window_counts.order_by("region"),
            "may_act": _may_act(request.user),
        },
    )


@require_GET
@role_required(*READ_ROLES)
def finding_list(request):
    environment = _environment(request)
    status = request.GET.get("status", "unresolved")
    if status not in STATUS_FILTERS:
        status = "unresolved"
    return render(
        request,
        "reconciliation/finding_list.html",
        {
            "findings": selectors.finding_list(environment=environment, status=status),
            "environment": environment,
            "environments": Environment.objects.order_by("name"),
            "status": status,
            "statuses": STATUS_FILTERS,
            "may_act": _may_act(request.user),
        },
    )


def _decide(request, pk: int, service, done: str):
    finding = get_object_or_404(Finding, pk=pk)
    try:
        service(finding=finding, actor=request.user, note=request.POST.get("note", ""))
    except NotAllowed as exc:
        return render(request, "403.html", {"exception": str(exc)}, status=403)
    except CutoverError as exc:
        messages.error(request, f"Finding #{finding.pk}: {exc}")
    else:
        messages.success(request, f"Finding #{finding.pk} {done}.")
    back = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    return redirect(back if back and safe else "finding-list")


@require_POST
@role_required(*READ_ROLES)
def finding_acknowledge(request, pk: int):
    return _decide(request, pk, services.finding_acknowledge, "acknowledged")


@require_POST
@role_required(*READ_ROLES)
def finding_resolve(request, pk: int):
    return _decide(request, pk, services.finding_resolve, "resolved")
