from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only, and written only through `audit.protocol.record`.
    Seen by those who hold the audit pages' permission (orgadmin's `view_audit_log`)."""

    list_display = ["created_at", "actor_username", "action", "organization_name", "outcome", "response_status"]
    list_filter = ["action", "outcome", "created_at"]
    search_fields = ["organization_id", "organization_name", "actor_username", "request_id", "idempotency_key"]
    date_hierarchy = "created_at"
    show_full_result_count = False  # no COUNT(*) over the whole log
    list_select_related = False

    def get_readonly_fields(self, request: HttpRequest, obj: AuditEntry | None = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_view_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return request.user.has_perm("orgadmin.view_audit_log")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEntry | None = None) -> bool:
        return False
