"""Expires the change requests past their time, erasing their client secrets. The queue does it
as it is opened; schedule this (hourly) so that secrets do not outlive their request unseen."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from orgadmin import change_requests


class Command(BaseCommand):
    help = "Expire the change requests past their time, and erase their client secrets."

    def handle(self, *args: Any, **options: Any) -> None:
        expired = change_requests.expire_due()
        self.stdout.write(f"Expired {expired} change request(s).")
