from django.urls import path

from migrations_app import views

urlpatterns = [
    path("", views.home, name="home"),
    path("environments/new/", views.environment_create, name="environment-create"),
    path("environments/<slug:name>/", views.environment_detail, name="environment-detail"),
    path("environments/<slug:name>/deploy/", views.deployment_create, name="deployment-create"),
    path("environments/<slug:name>/deployment/live/", views.environment_deployment_live, name="deployment-live"),
    path("environments/<slug:name>/s3-backfill/", views.s3_backfill, name="s3-backfill"),
    path("deployments/<int:pk>/cancel/", views.deployment_cancel, name="deployment-cancel"),
    path("stacks/<int:pk>/confirm/", views.stack_confirm, name="stack-confirm"),
    path("environments/<slug:name>/start/", views.execution_start, name="execution-start"),
    path("executions/<int:pk>/", views.execution_detail, name="execution-detail"),
    path("executions/<int:pk>/live/", views.execution_live, name="execution-live"),
    path("gates/<int:pk>/", views.gate_detail, name="gate-detail"),
    path("gates/<int:pk>/live/", views.gate_live, name="gate-live"),
    path("gates/<int:pk>/evidence/", views.gate_evidence_refresh, name="gate-evidence-refresh"),
    path("executions/<int:pk>/stop/", views.execution_stop, name="execution-stop"),
    path("gates/<int:pk>/decide/", views.gate_decide, name="gate-decide"),
]
