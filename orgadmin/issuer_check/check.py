"""The issuer check itself: `check_issuer` fetches `<issuer>/.well-known/openid-configuration`
(`orgadmin.issuer_check.fetch`, in a slot of `orgadmin.issuer_check.slots`), reads the discovery
document and says what it found (`IssuerCheck`).

Each check is recorded in the audit log (`issuer.check`), whatever it found or refused: not a call
to Polytomic, but the record of who made the portal fetch what belongs there too.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from audit import protocol as audit_protocol
from audit.models import AuditEntry
from audit.protocol import AuditContext
from orgadmin.issuer_check.fetch import fetch
from orgadmin.issuer_check.refusals import Refused, shown
from orgadmin.issuer_check.slots import running_check
from orgadmin.issuer_check.targets import refuse_query_or_fragment

WELL_KNOWN = "/.well-known/openid-configuration"


@dataclass(frozen=True)
class IssuerCheck:
    """What a check of `issuer` found; `problem` says, for the operator, what it did not."""

    issuer: str
    reachable: bool = False
    valid_json: bool = False
    issuer_matches: bool = False
    authorization_host: str = ""
    problem: str = ""

    @property
    def passed(self) -> bool:
        return self.reachable and self.valid_json and self.issuer_matches and bool(self.authorization_host)


def check_issuer(issuer: str, *, context: AuditContext) -> IssuerCheck:
    """Fetches the issuer's discovery document and compares; records one audit entry and never
    raises for what it finds or refuses (only AuditUnavailable, when that entry cannot be
    written)."""
    started = time.monotonic()
    url = issuer.rstrip("/") + WELL_KNOWN
    try:
        refuse_query_or_fragment(issuer)
        with running_check(context):
            status, body = fetch(url)
        result = _read(issuer, status, body)
    except Refused as exc:
        result = IssuerCheck(issuer=issuer, problem=exc.message)
    # As for a read of Polytomic's: no result is shown that no entry covers (AuditUnavailable).
    audit_protocol.record(
        context,
        action=AuditEntry.Action.ISSUER_CHECK,
        nothing_sent=False,
        what=f"the issuer check of {url}",
        method="GET",
        path=url[:500],
        request_body=None,
        response_status=None,
        response_body=_findings(result),
        outcome=AuditEntry.Outcome.OK if result.passed else AuditEntry.Outcome.FAILED,
        error_message=result.problem,
        duration_ms=int((time.monotonic() - started) * 1000),
        attempts=1,
    )
    return result


# --- What the document says ------------------------------------------------------------------------


def _read(issuer: str, status: int, body: bytes) -> IssuerCheck:
    if status != 200:
        return IssuerCheck(
            issuer=issuer, reachable=True, problem=f"The issuer answered HTTP {status}, not its discovery document."
        )
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # not JSON (nor UTF-8), or nested deeper than Python parses
        return IssuerCheck(issuer=issuer, reachable=True, problem="The issuer's discovery document is not JSON.")
    if not isinstance(document, dict):
        return IssuerCheck(
            issuer=issuer, reachable=True, problem="The issuer's discovery document is not a JSON object."
        )
    named = document.get("issuer")
    authorization_host = _host_of(document.get("authorization_endpoint"))
    if not isinstance(named, str):
        return IssuerCheck(
            issuer=issuer, reachable=True, valid_json=True, authorization_host=authorization_host,
            problem="The discovery document names no issuer (its “issuer” is missing or not text): sign-in would fail.",
        )  # fmt: skip
    if named != issuer:
        return IssuerCheck(
            issuer=issuer, reachable=True, valid_json=True, authorization_host=authorization_host,
            problem=f"The discovery document names the issuer “{shown(named)}”, not “{issuer}”: sign-in would fail.",
        )  # fmt: skip
    if not authorization_host:  # REQUIRED (OpenID Connect Discovery 1.0, section 3)
        return IssuerCheck(
            issuer=issuer, reachable=True, valid_json=True, issuer_matches=True,
            problem="The discovery document names no authorization endpoint that is a URL: sign-in would fail.",
        )  # fmt: skip
    return IssuerCheck(
        issuer=issuer, reachable=True, valid_json=True, issuer_matches=True, authorization_host=authorization_host
    )


def _host_of(endpoint: object) -> str:
    """The host of the document's authorization endpoint, "" when it has none that can be read."""
    if not isinstance(endpoint, str):
        return ""
    try:
        return shown(urlsplit(endpoint).hostname or "")
    except ValueError:  # e.g. `http://[bad`
        return ""


# --- The record ----------------------------------------------------------------------------------


def _findings(result: IssuerCheck) -> str:
    """What the check found, as its entry keeps it."""
    return json.dumps(
        {
            "reachable": result.reachable,
            "valid_json": result.valid_json,
            "issuer_matches": result.issuer_matches,
            "authorization_host": result.authorization_host,
        },
    )
