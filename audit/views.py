from django.shortcuts import render

from audit.selectors import audit_event_list
from controlplane.accounts.models import Role
from controlplane.accounts.permissions import role_required


@role_required(Role.AUDITOR, Role.ENGINEER, Role.APPROVER)
def audit_log(request):
    return render(request, "audit/audit_log.html", {"events": audit_event_list(limit=500)})
