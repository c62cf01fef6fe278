from django.urls import path

from accounts import apis

urlpatterns = [
    path("register", apis.UserRegisterApi.as_view(), name="register"),
    path("login", apis.LoginApi.as_view(), name="login"),
    path("refresh", apis.RefreshApi.as_view(), name="refresh"),
    path("logout", apis.LogoutApi.as_view(), name="logout"),
    path("me", apis.MeApi.as_view(), name="me"),
    path(".well-known/jwks.json", apis.JwksApi.as_view(), name="jwks"),
]
