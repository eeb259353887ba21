"""The environment, read strictly: a value the portal does not understand stops start-up with a
message that names the variable, the value and what is allowed.

django-environ alone is lenient where a typo switches a safeguard off without a word: `env.bool`
reads anything but its few true spellings as False (`PORTAL_FOUR_EYES=ture`, by its name then, turned
four eyes off), `env.list` keeps any word and the spaces around it (`APPROVAL_FOR=remove_sso` or
`"remove-sso, change-sso"` turned approvals off), and a number may be zero, negative or "3s".
`PortalEnv` is django-environ's reader, `_FILE` secrets included, with those holes closed; the
settings (portal/settings/) and gunicorn's (deploy/gunicorn.conf.py) read every variable through it.

The refusal is an `ImproperlyConfigured` raised while the settings load, stronger than a system
check's error, so that nothing that loads the settings starts on a bad value: not gunicorn's
workers (gunicorn runs no checks, and stops when a worker fails to boot), not `migrate`, not a
command run with `--skip-checks`. An empty value reads as unset (its default), and every default
is the safe choice.

A variable renamed in a release is refused by its old name with a message naming the new one
(`refuse_renamed`): read as unset, it would silently fall back to its default.
"""

from __future__ import annotations

import ipaddress
import math
import os
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

TRUE = ("true", "yes", "on", "1")
FALSE = ("false", "no", "off", "0")
BOOLEANS = "use true or false (also yes/no, on/off, 1/0, in any case)"


def refusal(name: str, value: str, allowed: str) -> ImproperlyConfigured:
    """The one message for a value the portal does not accept."""
    return ImproperlyConfigured(f"{name}={value!r} is not allowed: {allowed}.")


class PortalEnv(environ.FileAwareEnv):
    """django-environ's reader of the environment (and of `<NAME>_FILE`), strict about values."""

    # Not the reader's own NOTSET (which makes a missing variable an error), and a NoValue so
    # that the reader does not cast the value to the default's type.
    _UNSET = environ.NoValue()

    def __init__(self, **scheme: Any) -> None:
        super().__init__(**scheme)
        # Every variable read, in order: the tests hold `.env.example` and the README to it.
        self.names: list[str] = []

    def get_value(self, var: str, *args: Any, **kwargs: Any) -> Any:
        if var not in self.names:
            self.names.append(var)
        return super().get_value(var, *args, **kwargs)

    def text(self, var: str) -> str | None:
        """The variable's value with the spaces around it removed; None when unset or empty."""
        value = self.get_value(var, default=self._UNSET)
        if value is self._UNSET:
            return None
        return str(value).strip() or None

    def _default(self, var: str, default: Any) -> Any:
        if default is self.NOTSET:
            raise ImproperlyConfigured(f"Set the {var} environment variable")
        return default

    def bool(self, var: str, default: Any = environ.Env.NOTSET) -> bool:
        """true or false, in the usual spellings and any case; anything else is refused."""
        value = self.text(var)
        if value is None:
            return self._default(var, default)
        if value.lower() in TRUE:
            return True
        if value.lower() in FALSE:
            return False
        raise refusal(var, value, BOOLEANS)

    def int(
        self, var: str, default: Any = environ.Env.NOTSET, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        """A whole number, at least `minimum` and at most `maximum` when they are given."""
        value = self.text(var)
        if value is None:
            return self._default(var, default)
        allowed = "use a whole number" + (f" of {minimum} or more" if minimum is not None else "")
        if maximum is not None:
            allowed += (" and" if minimum is not None else "") + f" of {maximum} or less"
        try:
            number = int(value)
        except ValueError:
            raise refusal(var, value, allowed) from None
        if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
            raise refusal(var, value, allowed)
        return number

    def float(self, var: str, default: Any = environ.Env.NOTSET, *, positive: bool = False) -> float:
        """A finite number, above zero when `positive`."""
        value = self.text(var)
        if value is None:
            return self._default(var, default)
        allowed = "use a number" + (" above 0" if positive else "")
        try:
            number = float(value)
        except ValueError:
            raise refusal(var, value, allowed) from None
        if not math.isfinite(number) or (positive and number <= 0):
            raise refusal(var, value, allowed)
        return number

    def list(self, var: str, cast: Any = None, default: Any = environ.Env.NOTSET) -> list[Any]:
        """Comma-separated items, each with the spaces around it removed; empty items are dropped."""
        value = self.text(var)
        if value is None:
            return self._default(var, default)
        items = [item.strip() for item in value.split(",") if item.strip()]
        return [cast(item) for item in items] if cast else items

    def choice(self, var: str, choices: Sequence[str], default: str, *, ignore_case: bool = False) -> str:
        """One of `choices` (as spelled there, when `ignore_case` lets any case match)."""
        value = self.text(var)
        if value is None:
            return default
        for choice in choices:
            if value == choice or (ignore_case and value.upper() == choice.upper()):
                return choice
        raise refusal(var, value, f"use one of {', '.join(choices)}")

    def choices(self, var: str, choices: Sequence[str], default: Sequence[str]) -> list[str]:
        """A comma-separated list of `choices`, spaces around each trimmed; at least one."""
        items = self.list(var, default=[*default])
        allowed = f"use a comma-separated list of {', '.join(choices)}"
        if not items:
            raise refusal(var, self.text(var) or "", allowed)
        if unknown := [item for item in items if item not in choices]:
            raise refusal(var, self.text(var) or "", f"{unknown[0]!r} is unknown; {allowed}")
        return items

    def time_zone(self, var: str, default: str) -> str:
        """An IANA time zone name, as Django's TIME_ZONE takes it."""
        value = self.text(var)
        if value is None:
            return default
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise refusal(var, value, "use an IANA time zone name, e.g. UTC or Europe/Berlin") from None
        return value

    def secret(self, var: str) -> str:
        """A required secret, with the white space around it (a secret file's newline) removed."""
        try:
            value = self.str(var).strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{var}_FILE names a file that cannot be read: {exc.strerror}") from None
        if not value:
            raise ImproperlyConfigured(f"Set the {var} environment variable (or {var}_FILE); it is empty")
        return value

    def fernet_keys(self, var: str) -> list[str]:
        """Comma-separated Fernet keys (32 bytes in URL-safe base64, as `Fernet.generate_key()`
        makes them), newest first; none when unset. A key is a secret: the refusal never shows it."""
        keys = self.list(var, default=[])
        for position, key in enumerate(keys, start=1):
            try:
                Fernet(key)
            except ValueError:
                raise ImproperlyConfigured(
                    f"{var}: key {position} is not a Fernet key (32 bytes in URL-safe base64, e.g. from "
                    '`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`)'
                ) from None
        return keys

    def networks(self, var: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Comma-separated IP addresses or networks (`10.0.0.0/8`, `2001:db8::/32`); none when unset."""
        try:
            return [ipaddress.ip_network(item, strict=False) for item in self.list(var, default=[])]
        except ValueError as exc:
            raise refusal(var, self.text(var) or "", f"use IP addresses or networks, comma-separated ({exc})") from None

    def service_url(self, var: str, schemes: Sequence[str], default: str) -> str:
        """A URL whose scheme is one of `schemes`: a misspelt scheme would otherwise fail later,
        far from its cause, or pick a backend nobody meant."""
        value = self.text(var)
        if value is None:
            return default
        if urlsplit(value).scheme not in schemes:
            shown = value if not urlsplit(value).password else "<a URL with a password>"
            raise refusal(var, shown, f"use a URL starting {', '.join(f'{scheme}://' for scheme in schemes)}")
        return value

    def refuse_renamed(self, renamed: Mapping[str, str]) -> None:
        """Stops start-up when a variable is set by a name it no longer has (`_FILE` too), naming
        every such variable's new name at once."""
        found = [
            f"{old}{suffix} is now {new}{suffix}"
            for old, new in renamed.items()
            for suffix in ("", "_FILE")
            if os.environ.get(f"{old}{suffix}", "").strip()
        ]
        if found:
            raise ImproperlyConfigured(
                f"Renamed environment variables are set: {'; '.join(found)}. Set the new names instead "
                '(README, "Upgrading").'
            )
