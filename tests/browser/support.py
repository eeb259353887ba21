"""What the browser tests share."""

from __future__ import annotations

import json
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.factories import PASSWORD, make_user

# axe-core, pinned in tests/oidc/package.json and installed by `npm ci --prefix tests/oidc`.
AXE = Path(__file__).resolve().parents[1] / "oidc" / "node_modules" / "axe-core" / "axe.min.js"

# The two screens a journey is walked on: a laptop's, and a phone's.
SCREENS = [{"width": 1280, "height": 800}, {"width": 390, "height": 844}]


def sign_in(page, username: str) -> None:
    page.goto("/organizations/")
    expect(page).to_have_url("/accounts/login/?next=/organizations/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def signed_in_as(page, username: str, *, role: str, screen: dict | None = None) -> None:
    """A new member of staff with `role`, signed in, on `screen` (a viewport size) when given."""
    make_user(username, role=role)
    if screen is not None:
        page.set_viewport_size(screen)
    sign_in(page, username)


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page, one readable line each.

    The CSP refuses inline scripts, so axe is not added as a <script> element: its source is
    evaluated by the browser's debugging protocol, which the page's policy does not govern.
    """
    page.evaluate(AXE.read_text())
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".filter(v => ['serious', 'critical'].includes(v.impact))"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    return [f"{v['impact']} {v['id']}: {v['help']} at {json.dumps(v['nodes'][:5])}" for v in violations]
