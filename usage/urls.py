from __future__ import annotations

from django.urls import path

from . import views

app_name = "usage"

urlpatterns = [
    path("", views.UsageView.as_view(), name="index"),
    path("export.csv", views.UsageExportView.as_view(), name="export"),
    path("uploads/logs/", views.UploadLogsView.as_view(), name="upload_logs"),
    path("uploads/lmstat/", views.UploadLmstatView.as_view(), name="upload_lmstat"),
    path("uploads/status.json", views.UploadStatusView.as_view(), name="upload_status"),
    path("uploads/<int:upload_id>/delete/", views.UploadDeleteView.as_view(), name="upload_delete"),
    path("agent-keys/", views.AgentKeyCreateView.as_view(), name="agent_key_create"),
    path("agent-keys/<int:key_id>/revoke/", views.AgentKeyRevokeView.as_view(), name="agent_key_revoke"),
    path("settings/", views.UsageSettingsView.as_view(), name="settings"),
    path("agent/portal_usage_agent.py", views.AgentDownloadView.as_view(), name="agent_download"),
]
