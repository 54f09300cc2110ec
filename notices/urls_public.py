"""The person's notifications, unsubscribe links and the secret calendar feed (outside /c/)."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "notices"

urlpatterns = [
    path("notifications/", views.notifications_list, name="list"),
    path("notifications/read/", views.notifications_read, name="read"),
    path("notifications/settings/", views.preferences, name="settings"),
    path("notifications/unsubscribe/<str:token>/", views.unsubscribe_link, name="unsubscribe"),
    path("calendar/<str:token>.ics", views.calendar_feed, name="calendar_feed"),
]
