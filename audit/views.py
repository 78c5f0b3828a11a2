from __future__ import annotations

from django.conf import settings
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from audit import reports, services
from audit.forms import AuditFilterForm, ReportPackForm
from audit.models import ReportPack
from audit.selectors import audit_event_filter, audit_event_types, audit_regions, report_pack_get, report_pack_list
from controlplane.accounts.models import Role
from controlplane.accounts.permissions import role_required

TRAIL_ROLES = (Role.AUDITOR, Role.ENGINEER, Role.APPROVER)
PACK_ROLES = reports.READ_ROLES


def _filtered(request):
    form = AuditFilterForm(request.GET or None)
    if request.GET and not form.is_valid():
        return form, None
    filters = {k: v for k, v in (form.cleaned_data if form.is_bound else {}).items() if v}
    return form, filters


@require_GET
@role_required(*TRAIL_ROLES)
def audit_log(request):
    form, filters = _filtered(request)
    page = None
    if filters is not None:
        page = Paginator(audit_event_filter(**filters), settings.AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audit/audit_log.html",
        {
            "form": form,
            "page": page,
            "events": page.object_list if page else [],
            "query": query.urlencode(),
            "event_types": audit_event_types(),
            "regions": audit_regions(),
        },
        status=200 if filters is not None else 400,
    )


@require_GET
@role_required(*TRAIL_ROLES)
def audit_export(request):
    """The filtered trail as CSV, streamed (constant memory whatever its length). Audited."""
    form, filters = _filtered(request)
    if filters is None:
        return HttpResponse("; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()), status=400)
    response = StreamingHttpResponse(
        services.audit_export(actor=request.user, filters=filters), content_type="text/csv"
    )
    response["Content-Disposition"] = f'attachment; filename="audit-trail-{timezone.now():%Y%m%dT%H%M%S}.csv"'
    return response


@require_http_methods(["GET", "POST"])
@role_required(*PACK_ROLES)
def report_list(request):
    status = 200
    if request.method == "POST":
        form = ReportPackForm(request.POST)
        if form.is_valid():
            try:
                pack = reports.report_pack_request(actor=request.user, **form.cleaned_data)
            except reports.ReportPackForbidden as exc:
                form.add_error(None, str(exc))
                status = 403
            except reports.ReportPackError as exc:
                form.add_error(None, str(exc))
                status = 400
            else:
                return redirect("report-detail", uid=pack.uid)
        else:
            status = 400
    else:
        form = ReportPackForm()
    return render(
        request,
        "audit/report_list.html",
        {"form": form, "packs": report_pack_list(), "may_request": reports.may_request(request.user)},
        status=status,
    )


def _pack(uid) -> ReportPack:
    try:
        return report_pack_get(uid=uid)
    except ReportPack.DoesNotExist:
        raise Http404("No such report pack.") from None


@require_GET
@role_required(*PACK_ROLES)
def report_detail(request, uid):
    pack = _pack(uid)
    return render(request, "audit/report_detail.html", {"pack": pack, "status": reports.report_pack_status(pack=pack)})


@require_GET
@role_required(*PACK_ROLES)
def report_status(request, uid):
    """The htmx-polled progress fragment (polling stops when the pack is ready or failed)."""
    pack = _pack(uid)
    return render(request, "audit/_report_status.html", {"pack": pack, "status": reports.report_pack_status(pack=pack)})


@require_GET
@role_required(*PACK_ROLES)
def report_download(request, uid):
    pack = _pack(uid)
    try:
        download = reports.report_pack_download(pack=pack, actor=request.user)
    except reports.ReportPackForbidden as exc:
        return HttpResponse(str(exc), status=403)
    except reports.ReportPackError as exc:
        return HttpResponse(str(exc), status=409 if pack.is_pending else 410)
    response = FileResponse(
        download.stream, as_attachment=True, filename=download.filename, content_type="application/zip"
    )
    response["X-Content-SHA256"] = download.sha256
    return response
