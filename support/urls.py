from __future__ import annotations

from django.urls import path

from . import views

app_name = "support"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("queues/<slug:slug>/", views.QueueView.as_view(), name="queue"),
    path("customers/<str:number>/", views.CustomerView.as_view(), name="customer"),
    path("customers/<str:number>/view-as/", views.ViewAsStartView.as_view(), name="view_as_start"),
    path("customers/<str:number>/asc/", views.AscDesignateView.as_view(), name="asc_designate"),
    path("customers/<str:number>/flexnet/", views.FlexnetSetView.as_view(), name="flexnet_set"),
    path("requests/<int:pk>/", views.RequestView.as_view(), name="request"),
    path("requests/<int:pk>/comment/", views.RequestCommentView.as_view(), name="request_comment"),
    path("requests/<int:pk>/approve/", views.RequestApproveView.as_view(), name="request_approve"),
    path("requests/<int:pk>/reject/", views.RequestRejectView.as_view(), name="request_reject"),
    path("requests/<int:pk>/done/", views.RequestDoneView.as_view(), name="request_done"),
    path("view-as/end/", views.ViewAsEndView.as_view(), name="view_as_end"),
]
