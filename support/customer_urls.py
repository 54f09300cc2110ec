from __future__ import annotations

from django.urls import path

from . import customer_views

app_name = "requests"

urlpatterns = [
    path("", customer_views.RequestListView.as_view(), name="list"),
    path("new/", customer_views.RequestFileView.as_view(), name="file"),
    path("<int:pk>/", customer_views.RequestDetailView.as_view(), name="detail"),
    path("<int:pk>/comment/", customer_views.RequestCommentView.as_view(), name="comment"),
    path("<int:pk>/emergency-license/", customer_views.RequestEmergencyFileView.as_view(), name="emergency_file"),
]
