"""pytest-playwright driving Debian's Chromium against the portal served by pytest-django's live server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test.testcases import LiveServerThread
from playwright.sync_api import ConsoleMessage, Page
from pytest_django.live_server_helper import LiveServer

CHROMIUM = os.environ.get("PORTAL_TEST_CHROMIUM", "/usr/bin/chromium")
# The flags keep Chromium from reaching for Google's services, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class WhiteNoiseLiveServer(LiveServer):
    """pytest-django's live server, with static files served as under gunicorn.

    Its default static handler looks files up by their source names, but pages link the
    content-hashed names that collectstatic wrote (the suite's `_collected_static` fixture); here
    requests go straight to the portal, whose WhiteNoise middleware serves them from STATIC_ROOT.
    """

    def __init__(self, addr: str) -> None:
        super().__init__(addr, start=False)
        default = self.thread
        self.thread = LiveServerThread(
            default.host,
            static_handler=lambda handler: handler,
            connections_override=default.connections_override,
            port=default.port,
        )
        self.thread.daemon = True
        self.start()


@pytest.fixture(scope="session")
def live_server(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    server = WhiteNoiseLiveServer(request.config.getvalue("liveserver") or "127.0.0.1")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """pytest-playwright launches Debian's Chromium: Playwright's own browser download is not used."""
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"No Chromium at {CHROMIUM}: install Debian's package (apt-get install -y chromium) "
            "or point PORTAL_TEST_CHROMIUM at a Chromium binary"
        )
    # Playwright's sync API runs an event loop in this thread, which Django's ORM would otherwise
    # mistake for async code: the tests only touch the database between browser calls.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def base_url(live_server: LiveServer) -> str:
    return live_server.url


class ConsoleRecorder:
    """Everything the page complained about: console errors and uncaught exceptions."""

    def __init__(self, page: Page, origin: str) -> None:
        self.origin = origin  # only the portal's pages count, not an identity provider's
        self.errors: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self._on_page_error(page, error))

    # Chromium logs every 4xx and 5xx as a console error. The portal answers 422 (a form to
    # correct) on purpose, and htmx swaps it in (orgadmin/README.md, "Statuses"); that one is
    # expected, any other status is not.
    EXPECTED = {"Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"}

    def _on_page_error(self, page: Page, error: Exception) -> None:
        if page.url.startswith(self.origin):
            self.errors.append(f"pageerror: {error}")

    def _on_console(self, message: ConsoleMessage) -> None:
        url = message.location.get("url") or (message.page.url if message.page else "")
        if not url.startswith(self.origin):
            return
        if message.type in ("error", "warning") and message.text not in self.EXPECTED:
            self.errors.append(f"{message.type}: {message.text} (at {message.location.get('url', '?')})")


@pytest.fixture(autouse=True)
def _watched_page(page: Page, base_url: str) -> None:
    """Every test's page records console errors (page.console.errors) and waits at most 10 s."""
    page.set_default_timeout(10_000)
    page.console = ConsoleRecorder(page, base_url)


SCREENSHOTS = Path(
    os.environ.get("PORTAL_SCREENSHOTS", Path(__file__).resolve().parents[2] / "test-results" / "screenshots")
)


@pytest.fixture
def screenshot(page: Page):
    """Saves a full-page screenshot under test-results/screenshots (kept by .ci/run) for review."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> None:
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)

    return take
