"""The profile page: who you are, your roles, and your personal API tokens."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.validators import MaxValueValidator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from controlplane.accounts.models import ApiToken, Role
from controlplane.accounts.permissions import role_required
from controlplane.accounts.tokens import api_token_create, api_token_list, api_token_revoke

ANY_ROLE = (Role.ENGINEER, Role.APPROVER, Role.AUDITOR)


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “release pipeline”.")
    expires_in_days = forms.IntegerField(min_value=1, initial=30)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expires_in_days"].validators.append(MaxValueValidator(settings.API_TOKEN_MAX_DAYS))
        self.fields["expires_in_days"].initial = settings.API_TOKEN_DEFAULT_DAYS


def _render(request, form, issued=None, status=200):
    now = timezone.now()
    tokens = [
        {
            "token": t,
            "status": t.status(now),
            "may_decide_until": (
                until if (until := t.may_decide_until(settings.APPROVAL_FRESH_AUTH_SECONDS)) and until > now else None
            ),
        }
        for t in api_token_list(user=request.user)
    ]
    response = render(
        request,
        "accounts/profile.html",
        {
            "form": form,
            "tokens": tokens,
            "issued": issued,
            "fresh_minutes": settings.APPROVAL_FRESH_AUTH_SECONDS // 60,
        },
        status=status,
    )
    response["Cache-Control"] = "no-store"  # the page that shows a new secret is never cached
    return response


@role_required(*ANY_ROLE)
def profile(request):
    return _render(request, TokenCreateForm())


@require_POST
@role_required(*ANY_ROLE)
def token_create(request):
    form = TokenCreateForm(request.POST)
    if not form.is_valid():
        return _render(request, form, status=400)
    issued = api_token_create(
        user=request.user,
        actor=request.user,
        name=form.cleaned_data["name"],
        expires_in_days=form.cleaned_data["expires_in_days"],
        signed_in_at=request.user.idp_authenticated_at,
        created_via="profile",
    )
    # Rendered in this response only (not a redirect or a message, which would store it).
    return _render(request, TokenCreateForm(), issued=issued, status=201)


@require_POST
@role_required(*ANY_ROLE)
def token_revoke(request, prefix: str):
    token = get_object_or_404(ApiToken, prefix=prefix, user=request.user)
    try:
        api_token_revoke(token=token, actor=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Token {token.prefix} ({token.name}) is revoked; it no longer authenticates.")
    return redirect("profile")
