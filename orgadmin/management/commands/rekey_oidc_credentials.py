"""Re-encrypts the kept OIDC credentials under the newest of PORTAL_OIDC_CREDENTIALS_KEYS, the
step of a key rotation between adding the new key first and dropping the old."""

from __future__ import annotations

from cryptography.fernet import InvalidToken
from django.core.management.base import BaseCommand, CommandError

from orgadmin.organizations import credentials


class Command(BaseCommand):
    help = (
        "Re-encrypts every kept OIDC credential under the newest key of PORTAL_OIDC_CREDENTIALS_KEYS, so that "
        "the older keys can then be dropped. Run it after putting a new key first."
    )

    def handle(self, *args: object, **options: object) -> None:
        try:
            rekeyed = credentials.credentials_rekeyed()
        except credentials.KeepingIsOff as exc:
            raise CommandError(str(exc)) from None
        except InvalidToken:
            raise CommandError(
                "Some kept credentials open with none of the configured keys: put back the key they were kept "
                "under (after the new one), and run this again."
            ) from None
        self.stdout.write(f"Re-encrypted {rekeyed} kept OIDC credential(s) under the newest key.")
