"""Customer pages: /c/<n>/renewals/..."""

from __future__ import annotations

from django.urls import path

from . import views

app_name = "renewals"

urlpatterns = [
    path("", views.RenewalsView.as_view(), name="list"),
    path("export.csv", views.RenewalsExportView.as_view(), name="export"),
    path("calendar/rotate/", views.CalendarRotateView.as_view(), name="calendar_rotate"),
    path("lines/<str:line_id>.ics", views.LineCalendarView.as_view(), name="line_ics"),
]
