from __future__ import annotations

from django.urls import path

from . import views

app_name = "api_tokens"

urlpatterns = [
    path("", views.TokenListView.as_view(), name="list"),
    path("<int:token_id>/revoke/", views.TokenRevokeView.as_view(), name="revoke"),
]
