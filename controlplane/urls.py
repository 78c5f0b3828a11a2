from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from controlplane import views

urlpatterns = []
if settings.SSO_ENABLED:
    urlpatterns.append(path("admin/login/", views.admin_login))
urlpatterns += [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("signed-out/", views.signed_out, name="signed-out"),
    path("healthz", views.healthz, name="healthz"),
    path("", include("audit.urls")),
    path("", include("dashboard.urls")),
    path("", include("migrations_app.urls")),
]
