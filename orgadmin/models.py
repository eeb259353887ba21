from __future__ import annotations

from django.db import models


class PortalAccess(models.Model):
    """Carries the portal's custom permissions; it has no table.

    Organizations live in Polytomic, not in this database, so there is no model of ours to hang
    "can edit organizations" on. The roles (groups) built from these permissions are created by
    migration 0002; `orgadmin/README.md` lists which role holds which.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_organization", "Can view organizations"),
            ("add_organization", "Can create organizations"),
            ("change_organization", "Can edit organizations"),
            ("delete_organization", "Can delete organizations"),
            ("view_audit_log", "Can view the full audit log"),
        ]

    def __str__(self) -> str:
        return "Portal access"
