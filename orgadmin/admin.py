from __future__ import annotations

from django.contrib import admin

admin.site.site_header = "Partner organization portal"
admin.site.site_title = "Organization portal administration"
admin.site.index_title = "Staff accounts, roles and the audit log"
