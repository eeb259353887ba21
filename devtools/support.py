"""What the tests, the benchmark and the load script share: servers on loopback, and reading a
rendered form."""

from __future__ import annotations

import html
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

BASE_DIR = Path(__file__).resolve().parent.parent


def run_python(*arguments: str, env: dict[str, str], timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Runs `python *arguments` in the project's directory with only `env`, capturing its output,
    and waits for it: the one way the tests and the benchmarks run a short-lived process."""
    return subprocess.run(  # noqa: S603 (our own interpreter, our own scripts)
        [sys.executable, *arguments],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    """A loopback port nothing listens on (at the moment of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_listening(url: str, seconds: float = 30, *, poll_seconds: float = 2) -> bool:
    """Polls `url` until anything answers; False if nothing did within `seconds`.

    A server may accept a connection before it can answer (gunicorn's socket listens while its
    workers still boot; a busy machine answers late): a poll that times out, or whose connection
    is refused or broken, is followed by another, each bounded by `poll_seconds` and by what is
    left of the deadline, so that the wait ends by it."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            requests.get(url, timeout=min(poll_seconds, left))
            return True
        except requests.Timeout:  # accepted, not answered in time (a connect timeout too): ask again
            continue
        except requests.ConnectionError:  # nothing listening yet, or the answer broke off
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    return False


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of the forms in a rendered page, by name (a form's key, the state it was
    opened with, its confirmation)."""
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'<input type="hidden" name="([A-Za-z_]+)" value="([^"]*)"', page)
    }


def hidden_field(page: str, name: str) -> str:
    """The value of the hidden input named `name` in a rendered page."""
    try:
        return hidden_fields(page)[name]
    except KeyError:
        raise LookupError(f"no hidden input named {name} in the page") from None
