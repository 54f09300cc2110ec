from __future__ import annotations

from django.urls import path

from . import views

app_name = "users"

urlpatterns = [
    path("", views.UserListView.as_view(), name="list"),
    path("add/", views.UserAddView.as_view(), name="add"),
    path("bulk/", views.UserBulkAddView.as_view(), name="bulk"),
    path("mfa/", views.CustomerMfaRequiredView.as_view(), name="mfa"),
    path("<int:pk>/role/", views.UserRoleView.as_view(), name="role"),
    path("<int:pk>/remove/", views.UserRemoveView.as_view(), name="remove"),
    path("invitations/<int:pk>/cancel/", views.InvitationCancelView.as_view(), name="invitation_cancel"),
    path("invitations/<int:pk>/resend/", views.InvitationResendView.as_view(), name="invitation_resend"),
]
