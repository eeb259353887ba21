from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from orgadmin.setup_links import public as setup_links
from staff import views as staff_views

# The Django admin signs in through the portal's sign-in, second factor included.
admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    # The customer's setup pages: the one prefix a public host may expose (README).
    path("setup/check.js", setup_links.setup_script, name="setup-script"),
    path("setup/<str:token>/", setup_links.setup_page, name="setup-page"),
    path("setup/<str:token>/check/", setup_links.setup_check, name="setup-check"),
    path("setup/<path:rest>", setup_links.setup_elsewhere),  # any other address under it: the same plain refusal
    path("accounts/", include("staff.urls")),
    path("staff/", include((staff_views.urlpatterns, staff_views.app_name))),
    path("admin/", admin.site.urls),
    path("", include("orgadmin.urls")),
]

handler403 = "orgadmin.web.permission_denied"
