from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.decorators.http import require_http_methods

from orgadmin.views import SignInView

# Django's form views treat PUT as POST; the portal's pages accept only the methods they document.
get_or_post = require_http_methods(["GET", "POST"])

urlpatterns = [
    path("accounts/login/", get_or_post(SignInView.as_view()), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/password/", get_or_post(auth_views.PasswordChangeView.as_view()), name="password_change"),
    path("accounts/password/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("admin/", admin.site.urls),
    path("", include("orgadmin.urls")),
]

handler403 = "orgadmin.views.permission_denied"
