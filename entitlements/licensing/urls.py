from __future__ import annotations

from django.urls import path

from . import views

app_name = "licensing_settings"

urlpatterns = [
    path("", views.SettingsView.as_view(), name="index"),
    # Shared Web users
    path("shared-web/users/", views.SharedWebUserListView.as_view(), name="shared_web_users"),
    path("shared-web/users/add/", views.SharedWebUserAddView.as_view(), name="shared_web_user_add"),
    path("shared-web/users/import/", views.SharedWebUserImportView.as_view(), name="shared_web_users_import"),
    path("shared-web/users/export.csv", views.SharedWebUserExportView.as_view(), name="shared_web_users_export"),
    path("shared-web/users/<int:pk>/", views.SharedWebUserEditView.as_view(), name="shared_web_user_edit"),
    path("shared-web/users/<int:pk>/active/", views.SharedWebUserActiveView.as_view(), name="shared_web_user_active"),
    path("shared-web/users/<int:pk>/remove/", views.SharedWebUserRemoveView.as_view(), name="shared_web_user_remove"),
    # Shared Web groups and seats
    path("shared-web/groups/", views.SharedWebGroupListView.as_view(), name="shared_web_groups"),
    path("shared-web/groups/add/", views.SharedWebGroupCreateView.as_view(), name="shared_web_group_create"),
    path("shared-web/groups/<int:pk>/", views.SharedWebGroupView.as_view(), name="shared_web_group"),
    path(
        "shared-web/groups/<int:pk>/rename/", views.SharedWebGroupRenameView.as_view(), name="shared_web_group_rename"
    ),
    path(
        "shared-web/groups/<int:pk>/delete/", views.SharedWebGroupDeleteView.as_view(), name="shared_web_group_delete"
    ),
    path(
        "shared-web/groups/<int:pk>/members/",
        views.SharedWebGroupMembersView.as_view(),
        name="shared_web_group_members",
    ),
    path("shared-web/groups/<int:pk>/seats/", views.SharedWebGroupSeatsView.as_view(), name="shared_web_group_seats"),
    path("shared-web/access/", views.SharedWebAccessView.as_view(), name="shared_web_access"),
    # Elastic
    path("elastic/", views.ElasticView.as_view(), name="elastic"),
    path("elastic/pin.json", views.ElasticPinExportView.as_view(), name="elastic_pin_export"),
    path("elastic/pin/regenerate/", views.ElasticPinRegenerateView.as_view(), name="elastic_pin_regenerate"),
    path("elastic/budget/", views.ElasticBudgetView.as_view(), name="elastic_budget"),
    path("elastic/usage/", views.ElasticUsageView.as_view(), name="elastic_usage"),
    path("elastic/usage/export.csv", views.ElasticUsageExportView.as_view(), name="elastic_usage_export"),
]
