from __future__ import annotations

from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.WebhookListView.as_view(), name="list"),
    path("<int:endpoint_id>/", views.WebhookDetailView.as_view(), name="detail"),
    path("deliveries/<int:delivery_id>/send-again/", views.WebhookResendView.as_view(), name="resend"),
]
