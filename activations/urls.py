from __future__ import annotations

from django.urls import path

from . import views

app_name = "activations"

urlpatterns = [
    path("", views.ServerListView.as_view(), name="list"),
]
