from django.urls import path

from audit import views

urlpatterns = [
    path("audit/", views.audit_log, name="audit-log"),
    path("audit/export.csv", views.audit_export, name="audit-export"),
    path("reports/", views.report_list, name="report-list"),
    path("reports/<uuid:uid>/", views.report_detail, name="report-detail"),
    path("reports/<uuid:uid>/status/", views.report_status, name="report-status"),
    path("reports/<uuid:uid>/download/", views.report_download, name="report-download"),
]
