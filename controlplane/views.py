from django.conf import settings
from django.shortcuts import redirect, render


def signed_out(request):
    return render(request, "signed_out.html")


def admin_login(request):
    """/admin/login/ goes through SSO too: no password sign-in anywhere when SSO is on."""
    nxt = request.GET.get("next", "/admin/")
    if not nxt.startswith("/") or nxt.startswith("//"):
        nxt = "/admin/"
    return redirect(f"{settings.LOGIN_URL}?next={nxt}")


def healthz(request):
    from django.http import JsonResponse

    return JsonResponse({"status": "ok"})
