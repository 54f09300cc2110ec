from __future__ import annotations

from django.urls import path

from . import views

app_name = "activations"

urlpatterns = [
    path("", views.ServerListView.as_view(), name="list"),
    path("servers/add/", views.ServerAddView.as_view(), name="server_add"),
    path("update-from-license/", views.LicenseImportView.as_view(), name="import"),
    path("servers/<int:server_id>/", views.ServerDetailView.as_view(), name="server_detail"),
    path("servers/<int:server_id>/edit/", views.ServerEditView.as_view(), name="server_edit"),
    path("servers/<int:server_id>/activate/", views.ActivateView.as_view(), name="activate"),
    path("servers/<int:server_id>/activate/save/", views.ActivateApplyView.as_view(), name="activate_apply"),
    path("servers/<int:server_id>/activate/saved/<str:token>/", views.ActivationSavedView.as_view(), name="saved"),
    path("servers/<int:server_id>/rehost/", views.RehostView.as_view(), name="rehost"),
    path("servers/<int:server_id>/return/", views.ReturnView.as_view(), name="return"),
    path("servers/<int:server_id>/retire/", views.RetireView.as_view(), name="retire"),
    path("servers/<int:server_id>/files/compare/", views.LicenseFileDiffView.as_view(), name="file_diff"),
    path("servers/<int:server_id>/files/<int:version>/", views.LicenseFileView.as_view(), name="file_detail"),
    path(
        "servers/<int:server_id>/files/<int:version>/download/",
        views.LicenseFileDownloadView.as_view(),
        name="file_download",
    ),
]
