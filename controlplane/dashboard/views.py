"""The dashboard and the cost panel. Thin: check the role, call a selector, render.

No view here calls AWS: telemetry comes from the snapshots the beat job stores
(tests/test_dashboard.py fails if one does).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.shortcuts import get_object_or_404, redirect, render

from controlplane.accounts.models import Role
from controlplane.accounts.permissions import role_required
from controlplane.dashboard import selectors
from controlplane.dashboard.forms import CostForm
from controlplane.pricing.dynamodb import DEFAULT_TPS, CostInputs, PriceTableError, estimate, price_table
from migrations_app.models import Environment

ANY_ROLE = (Role.ENGINEER, Role.APPROVER, Role.AUDITOR)


def _polling() -> dict:
    return {
        "status_every": max(1, int(settings.DASHBOARD_REFRESH_SECONDS)),
        "charts_every": max(5, int(settings.TELEMETRY_INTERVAL_SECONDS)),
    }


@role_required(*ANY_ROLE)
def dashboard_index(request):
    """The nav's "Dashboard": straight to it when there is one environment, else a choice."""
    environments = list(Environment.objects.order_by("name"))
    if len(environments) == 1:
        return redirect("dashboard", name=environments[0].name)
    return render(request, "dashboard/index.html", {"environments": environments})


@role_required(*ANY_ROLE)
def dashboard(request, name: str):
    environment = get_object_or_404(Environment, name=name)
    return render(
        request,
        "dashboard/dashboard.html",
        {
            "environment": environment,
            "status": selectors.dashboard_status(environment=environment),
            "charts": selectors.dashboard_charts(environment=environment),
            "chart_hours": settings.DASHBOARD_CHART_HOURS,
            **_polling(),
        },
    )


@role_required(*ANY_ROLE)
def dashboard_status(request, name: str):
    environment = get_object_or_404(Environment, name=name)
    return render(
        request,
        "dashboard/_status.html",
        {"environment": environment, "status": selectors.dashboard_status(environment=environment)},
    )


@role_required(*ANY_ROLE)
def dashboard_charts(request, name: str):
    environment = get_object_or_404(Environment, name=name)
    return render(
        request,
        "dashboard/_charts.html",
        {
            "environment": environment,
            "charts": selectors.dashboard_charts(environment=environment),
            "chart_hours": settings.DASHBOARD_CHART_HOURS,
        },
    )


@role_required(*ANY_ROLE)
def cost_panel(request):
    """The replication cost panel: GET with the inputs (an estimate changes nothing)."""
    bound = bool(request.GET)
    if bound:
        # An input left out of the query keeps its default (``?tps=2500`` is enough); one
        # present but blank is an error like any other bad value.
        query = {name: field.initial for name, field in CostForm.base_fields.items()}
        query.update(request.GET.dict())
        form = CostForm(query)
    else:
        form = CostForm()
    if bound:
        data = form.cleaned_data if form.is_valid() else None
    else:
        data = {name: field.initial for name, field in form.fields.items()}
        data["tps"] = [Decimal(t) for t in DEFAULT_TPS]
    estimates, error = [], ""
    if data is not None:
        try:
            estimates = [
                estimate(
                    CostInputs(
                        tps=tps,
                        item_size_kb=data["item_size_kb"],
                        writes_per_transaction=data["writes_per_transaction"],
                        gsi_count=data["gsi_count"],
                        target_share_percent=data["target_share_percent"],
                        utilisation_percent=data["utilisation_percent"],
                    )
                )
                for tps in data["tps"]
            ]
        except PriceTableError as exc:
            error = str(exc)
    status = 400 if form.errors else 500 if error else 200
    return render(
        request,
        "dashboard/cost.html",
        {"form": form, "estimates": estimates, "error": error, "prices": price_table()},
        status=status,
    )
