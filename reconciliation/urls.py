from django.urls import path

from reconciliation import views

urlpatterns = [
    path("reconciliation/", views.run_list, name="reconciliation-runs"),
    path("reconciliation/runs/<int:pk>/", views.run_detail, name="reconciliation-run"),
    path("reconciliation/findings/", views.finding_list, name="finding-list"),
    path("reconciliation/findings/<int:pk>/acknowledge/", views.finding_acknowledge, name="finding-acknowledge"),
    path("reconciliation/findings/<int:pk>/resolve/", views.finding_resolve, name="finding-resolve"),
]
