from __future__ import annotations

from django.urls import path

from . import views

urlpatterns = [
    path("access/", views.AccessView.as_view(), name="access"),
    path(
        "access/invitations/<int:pk>/accept/",
        views.InvitationRespondView.as_view(accept=True),
        name="invitation_accept",
    ),
    path(
        "access/invitations/<int:pk>/decline/",
        views.InvitationRespondView.as_view(accept=False),
        name="invitation_decline",
    ),
    path("help/roles/", views.RolesHelpView.as_view(), name="roles_help"),
]

customer_urlpatterns = [
    path("", views.CustomerHomeView.as_view(), name="customer_home"),
]
