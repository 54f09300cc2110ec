from __future__ import annotations

from django.urls import path

from . import settings_views

app_name = "licensing_settings"

urlpatterns = [
    path("", settings_views.SettingsView.as_view(), name="index"),
]
