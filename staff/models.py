from __future__ import annotations

from django.db import models


class StaffAccess(models.Model):
    """Holds the staff pages' permission; no rows (migration 0001)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("end_staff_sessions", "Can see staff members and end their sessions")]

    def __str__(self) -> str:
        return "Staff access"
