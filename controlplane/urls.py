from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from controlplane import views
from controlplane.accounts import views as account_views

handler400 = "controlplane.limits.bad_request"
handler404 = "controlplane.api.exceptions.not_found"

urlpatterns = []
if settings.SSO_ENABLED:
    urlpatterns.append(path("admin/login/", views.admin_login))
urlpatterns += [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("signed-out/", views.signed_out, name="signed-out"),
    path("healthz", views.healthz, name="healthz"),
    path("", include("audit.urls")),
    path("", include("controlplane.dashboard.urls")),
    path("", include("reconciliation.urls")),
    path("profile/", account_views.profile, name="profile"),
    path("profile/tokens/", account_views.token_create, name="token-create"),
    path("profile/tokens/<str:prefix>/revoke/", account_views.token_revoke, name="token-revoke"),
    path("api/v1/", include("controlplane.api.urls")),
    # The unversioned addresses of the schema and docs point at the current version.
    path("api/schema/", RedirectView.as_view(url="/api/v1/schema/", query_string=True)),
    path("api/docs/", RedirectView.as_view(url="/api/v1/docs/")),
    path("", include("migrations_app.urls")),
]
