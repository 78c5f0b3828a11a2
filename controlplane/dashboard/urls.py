from django.urls import path

from controlplane.dashboard import views

urlpatterns = [
    path("dashboard/", views.dashboard_index, name="dashboard-index"),
    path("environments/<slug:name>/dashboard/", views.dashboard, name="dashboard"),
    path("environments/<slug:name>/dashboard/status/", views.dashboard_status, name="dashboard-status"),
    path("environments/<slug:name>/dashboard/charts/", views.dashboard_charts, name="dashboard-charts"),
    path("cost/", views.cost_panel, name="cost-panel"),
]
