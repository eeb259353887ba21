from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from staff import views as staff_views

# The Django admin signs in through the portal's sign-in, second factor included.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("accounts/", include("staff.urls")),
    path("staff/", include((staff_views.urlpatterns, staff_views.app_name))),
    path("admin/", admin.site.urls),
    path("", include("orgadmin.urls")),
]

handler403 = "orgadmin.web.permission_denied"
