from django.urls import path

from food_common.urls import (  # noqa: F401 - Django reads the handlers from ROOT_URLCONF
    common_urlpatterns,
    handler400,
    handler403,
    handler404,
    handler500,
)
from tests import views

urlpatterns = [
    path("test/items", views.ItemsView.as_view()),
    path("test/conflict", views.ConflictView.as_view()),
    path("test/notes/<int:pk>", views.NoteView.as_view()),
    path("test/crash", views.CrashView.as_view()),
    path("test/me", views.MeView.as_view()),
    path("test/admin-only", views.AdminOnlyView.as_view()),
    path("test/publish", views.PublishView.as_view()),
    path("test/log", views.LogView.as_view()),
    path("test/plain-crash", views.plain_crash),
    path("test/plain-body", views.plain_body),
    *common_urlpatterns("common"),
]
