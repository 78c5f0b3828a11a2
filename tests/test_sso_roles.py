"""Roles come from the IdP's groups claim at every sign-in; a role no longer granted is removed."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from controlplane.accounts.models import User
from controlplane.accounts.services import user_sso_signed_in


def claims(**extra):
    base = {
        "iss": "http://127.0.0.1:9400",
        "sub": "user-approver1",
        "email": "alice.approver@example.com",
        "name": "Alice Approver",
        "auth_time": 1795708210,
        "groups": ["compliance-approvers"],
    }
    base.update(extra)
    return base


@pytest.mark.django_db
def test_groups_map_to_roles_and_identity_is_recorded():
    user = User.objects.create(username="approver1")
    user_sso_signed_in(user=user, claims=claims())
    user = User.objects.get(pk=user.pk)
    assert user.roles == {"approver"}
    assert user.idp_issuer == "http://127.0.0.1:9400"
    assert user.idp_subject == "user-approver1"
    assert user.email == "alice.approver@example.com"
    assert user.idp_authenticated_at.timestamp() == 1795708210
    event = AuditEvent.objects.get(event_type="auth.sign_in")
    assert event.actor == user
    assert event.after == {"roles": ["approver"], "idp_groups": ["compliance-approvers"]}


@pytest.mark.django_db
def test_a_role_the_idp_no_longer_grants_is_removed():
    user = User.objects.create(username="lead")
    user_sso_signed_in(user=user, claims=claims(sub="user-lead", groups=["engineers", "compliance-approvers"]))
    assert User.objects.get(pk=user.pk).roles == {"engineer", "approver"}

    user_sso_signed_in(user=user, claims=claims(sub="user-lead", groups=["engineers"]))

    assert User.objects.get(pk=user.pk).roles == {"engineer"}
    last = AuditEvent.objects.filter(event_type="auth.sign_in").last()
    assert last.before == {"roles": ["approver", "engineer"]}
    assert last.after["roles"] == ["engineer"]


@pytest.mark.django_db
@pytest.mark.parametrize("groups", [None, [], ["unknown-group"], "not-a-list"])
def test_no_known_group_means_no_role(groups):
    user = User.objects.create(username="outsider")
    user_sso_signed_in(user=user, claims=claims(groups=groups))
    assert User.objects.get(pk=user.pk).roles == frozenset()


@pytest.mark.django_db
def test_an_inactive_user_has_no_role_whatever_the_groups():
    user = User.objects.create(username="gone", is_active=False)
    user_sso_signed_in(user=user, claims=claims())
    assert not User.objects.get(pk=user.pk).has_role("approver")
