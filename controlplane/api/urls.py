from django.urls import path

from controlplane.api import docs, views

app_name = "api"

urlpatterns = [
    path("me/", views.MeApi.as_view(), name="me"),
    path("environments/", views.EnvironmentListCreateApi.as_view(), name="environment-list"),
    path("environments/<slug:name>/", views.EnvironmentDetailApi.as_view(), name="environment-detail"),
    path("environments/<slug:name>/plan/", views.EnvironmentPlanApi.as_view(), name="environment-plan"),
    path("environments/<slug:name>/telemetry/", views.EnvironmentTelemetryApi.as_view(), name="environment-telemetry"),
    path("plans/", views.PlanListApi.as_view(), name="plan-list"),
    path("plans/<int:pk>/", views.PlanDetailApi.as_view(), name="plan-detail"),
    path("deployments/", views.DeploymentListCreateApi.as_view(), name="deployment-list"),
    path("deployments/<int:pk>/", views.DeploymentDetailApi.as_view(), name="deployment-detail"),
    path("deployments/<int:pk>/cancel/", views.DeploymentCancelApi.as_view(), name="deployment-cancel"),
    path(
        "deployments/<int:pk>/stacks/<slug:stack_key>/confirm/",
        views.DeploymentStackConfirmApi.as_view(),
        name="deployment-stack-confirm",
    ),
    path("executions/", views.ExecutionListStartApi.as_view(), name="execution-list"),
    path("executions/<int:pk>/", views.ExecutionDetailApi.as_view(), name="execution-detail"),
    path("executions/<int:pk>/stop/", views.ExecutionStopApi.as_view(), name="execution-stop"),
    path("executions/<int:pk>/timeline/", views.ExecutionTimelineApi.as_view(), name="execution-timeline"),
    path("gates/", views.GateListApi.as_view(), name="gate-list"),
    path("gates/<int:pk>/", views.GateDetailApi.as_view(), name="gate-detail"),
    path("gates/<int:pk>/approve/", views.GateApproveApi.as_view(), name="gate-approve"),
    path("gates/<int:pk>/override/", views.GateOverrideApi.as_view(), name="gate-override"),
    path("gates/<int:pk>/reject/", views.GateRejectApi.as_view(), name="gate-reject"),
    path("gates/<int:pk>/evidence/", views.GateEvidenceRefreshApi.as_view(), name="gate-evidence"),
    path("reconciliation/runs/", views.ReconciliationRunListApi.as_view(), name="reconciliation-run-list"),
    path("reconciliation/runs/<int:pk>/", views.ReconciliationRunDetailApi.as_view(), name="reconciliation-run-detail"),
    path("reconciliation/windows/", views.WindowCountListApi.as_view(), name="window-count-list"),
    path("findings/", views.FindingListApi.as_view(), name="finding-list"),
    path("findings/<int:pk>/", views.FindingDetailApi.as_view(), name="finding-detail"),
    path("findings/<int:pk>/acknowledge/", views.FindingAcknowledgeApi.as_view(), name="finding-acknowledge"),
    path("findings/<int:pk>/resolve/", views.FindingResolveApi.as_view(), name="finding-resolve"),
    path("audit-events/", views.AuditEventListApi.as_view(), name="audit-event-list"),
    path("audit-events/<int:pk>/", views.AuditEventDetailApi.as_view(), name="audit-event-detail"),
    path("report-packs/", views.ReportPackListRequestApi.as_view(), name="report-pack-list"),
    path("report-packs/<uuid:uid>/", views.ReportPackDetailApi.as_view(), name="report-pack-detail"),
    path("report-packs/<uuid:uid>/download/", views.ReportPackDownloadApi.as_view(), name="report-pack-download"),
    path("schema/", docs.SchemaApi.as_view(), name="schema"),
    path("docs/", docs.SwaggerDocs.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", docs.RedocDocs.as_view(url_name="api:schema"), name="redoc"),
]
