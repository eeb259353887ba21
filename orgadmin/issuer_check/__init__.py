"""Checks a customer's OIDC issuer before it is saved: fetches `<issuer>/.well-known/openid-configuration`
and says whether it is reachable, is JSON, and names exactly the same issuer (a trailing slash or
a wrong tenant is the classic broken setup), with the host of its authorization endpoint for the
operator to recognise.

The portal fetches a URL an operator typed, so the fetch is kept from reaching anything but the
public internet (server-side request forgery), within one deadline, with a cap on the checks
running at once, and each check is recorded in the audit log. Its modules, each over the next:

- `check`: `check_issuer`, `IssuerCheck`, reading the discovery document, the audited record;
- `slots`: the per-user and total caps on checks running at once, in the shared cache;
- `fetch`: resolution under the deadline, the checked HTTP(S) connections, the bounded read;
- `policy`: where the check may go (`is_public`, the IPv6 forms of IPv4, the loopback origins
  the setting names);
- `targets`: the URL taken apart (`Target`, the host name in ASCII, the port rules);
- `refusals`: `Refused`, what every step raises when it will not or cannot go on.
"""

from __future__ import annotations

from orgadmin.issuer_check.check import IssuerCheck, check_issuer
from orgadmin.issuer_check.fetch import fetch, too_long
from orgadmin.issuer_check.policy import is_public, target
from orgadmin.issuer_check.refusals import Refused

__all__ = ["IssuerCheck", "Refused", "check_issuer", "fetch", "is_public", "target", "too_long"]
