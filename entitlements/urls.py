from __future__ import annotations

from django.urls import path

from . import views

app_name = "entitlements"

urlpatterns = [
    path("", views.EntitlementListView.as_view(), name="list"),
    path("export.csv", views.EntitlementExportView.as_view(), name="export"),
]
