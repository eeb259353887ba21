"""The production path: gunicorn from deploy/gunicorn.conf.py, static files collected, the
container's HEALTHCHECK script. The Docker engine is not available to tests, so this runs the
Dockerfile's own commands on loopback."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from devtools.support import free_port, run_python
from tests.support import production_env

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def gunicorn_portal(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("deploy")
    port = free_port()
    env = production_env(
        ALLOWED_HOSTS="portal.example.com",
        DATABASE_URL=f"sqlite:///{tmp / 'portal.sqlite3'}",
        STATIC_ROOT=str(tmp / "static"),
        PORTAL_TRUSTED_PROXY_COUNT="1",
        PORT=str(port),
        GUNICORN_BIND_HOST="127.0.0.1",
        GUNICORN_WORKERS="1",
        GUNICORN_THREADS="2",
    )
    for command in (["collectstatic", "--noinput", "--verbosity", "0"], ["migrate", "--verbosity", "0"]):
        done = run_python("manage.py", *command, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py", "portal.wsgi"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        yield env, f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def healthcheck(env) -> subprocess.CompletedProcess[str]:
    return run_python("deploy/healthcheck.py", env=env, timeout=10)


def wait_until_healthy(env, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if healthcheck(env).returncode == 0:
            return
        time.sleep(0.25)
    pytest.fail(f"gunicorn did not become healthy within {seconds} s")


def fetch(url: str, headers: dict[str, str]):
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 (loopback)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        return opener.open(request, timeout=10)
    except urllib.error.HTTPError as error:
        return error


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class GunicornTests:
    def test_healthcheck_script_passes_against_gunicorn(self, gunicorn_portal):
        env, _ = gunicorn_portal
        wait_until_healthy(env)
        assert healthcheck(env).returncode == 0

    def test_pages_and_hashed_static_files_behind_a_tls_proxy(self, gunicorn_portal):
        env, base = gunicorn_portal
        wait_until_healthy(env)
        proxied = {"Host": "portal.example.com", "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
        page = fetch(f"{base}/accounts/login/", proxied)
        assert page.status == 200
        html = page.read().decode()
        stylesheet = html.split('<link rel="stylesheet" href="', 1)[1].split('"', 1)[0]
        assert re.fullmatch(r"/static/css/portal\.[0-9a-f]{12}\.css", stylesheet)
        css = fetch(f"{base}{stylesheet}", proxied)
        assert css.status == 200
        assert "immutable" in css.headers["Cache-Control"]

    def test_plain_http_is_sent_to_https(self, gunicorn_portal):
        env, base = gunicorn_portal
        wait_until_healthy(env)
        response = fetch(f"{base}/accounts/login/", {"Host": "portal.example.com"})
        assert response.status == 301
        assert response.headers["Location"] == "https://portal.example.com/accounts/login/"
        assert "Strict-Transport-Security" not in response.headers

    def test_unknown_host_is_refused(self, gunicorn_portal):
        env, base = gunicorn_portal
        wait_until_healthy(env)
        response = fetch(f"{base}/accounts/login/", {"Host": "evil.example", "X-Forwarded-Proto": "https"})
        assert response.status == 400

    @pytest.mark.parametrize(
        ("variables", "message"),
        [
            ({"PORTAL_APPROVAL_FOR": "remove-sso, change_sso, delete"},
             "PORTAL_APPROVAL_FOR='remove-sso, change_sso, delete' is not allowed: 'change_sso' is unknown; use a "
             "comma-separated list of remove-sso, change-sso, delete."),
            ({"PORTAL_FOUR_EYES": "ture"}, "PORTAL_FOUR_EYES='ture' is not allowed: use true or false"),
            ({"GUNICORN_LOG_LEVEL": "verbose"},
             "GUNICORN_LOG_LEVEL='verbose' is not allowed: use one of debug, info, warning, error, critical."),
            ({"GUNICORN_WORKERS": "0"}, "GUNICORN_WORKERS='0' is not allowed: use a whole number of 1 or more."),
        ],
        ids=["portal-setting", "portal-switch", "gunicorn-level", "gunicorn-number"],
    )  # fmt: skip
    def test_gunicorn_refuses_to_start_on_a_bad_value(self, tmp_path, variables, message):
        """gunicorn runs no system checks: the portal's settings stop its workers from booting, and
        gunicorn stops when a worker cannot boot; its own settings stop it before it listens."""
        port = free_port()
        env = production_env(
            ALLOWED_HOSTS="portal.example.com",
            DATABASE_URL=f"sqlite:///{tmp_path / 'portal.sqlite3'}",
            PORT=str(port),
            GUNICORN_BIND_HOST="127.0.0.1",
            **{"GUNICORN_WORKERS": "2", **variables},
        )
        server = subprocess.run(
            [sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py", "portal.wsgi"],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert server.returncode != 0
        assert message in server.stderr
        assert healthcheck({"PATH": os.environ["PATH"], "PORT": str(port)}).returncode == 1

    def test_healthcheck_script_fails_when_nothing_listens(self):
        env = {"PATH": os.environ["PATH"], "PORT": str(free_port())}
        result = healthcheck(env)
        assert result.returncode == 1
        assert "healthz" in result.stderr


class ImageContentTests:
    """What `COPY . .` puts in the production image, by the rules of .dockerignore."""

    @staticmethod
    def image_files() -> list[str]:
        """The files of a clean checkout that `COPY . .` copies: each path is left out when it, or
        a folder it is in, matches a pattern of .dockerignore (a later `!pattern` lets it back in),
        as Docker matches them."""
        rules = [
            (line.startswith("!"), line.lstrip("!").strip("/"))
            for line in (BASE_DIR / ".dockerignore").read_text().splitlines()
            if line.strip() and not line.startswith("#")
        ]
        tracked = subprocess.run(
            ["git", "ls-files"], cwd=BASE_DIR, capture_output=True, text=True, check=True
        ).stdout.splitlines()  # fmt: skip

        def ignored(path: str) -> bool:
            parts = path.split("/")
            prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
            verdict = False
            for keep, pattern in rules:
                if any(fnmatch.fnmatchcase(prefix, pattern.replace("**/", "*")) for prefix in prefixes):
                    verdict = not keep
            return verdict

        return [path for path in tracked if not ignored(path)]

    def test_development_tools_tests_and_benchmarks_stay_out_of_the_image(self):
        files = self.image_files()
        assert {"manage.py", "requirements.txt", "orgadmin/web.py", "deploy/gunicorn.conf.py"} <= set(files)
        left_in = [path for path in files if path.split("/")[0] in {"devtools", "tests", "benchmarks", ".ci"}]
        assert left_in == []

    def test_without_them_production_has_no_seed_command(self):
        """seed_audit would write entries chained with the production key into the log."""
        result = run_python(
            "manage.py", "seed_audit", "--count", "1", env=production_env(DATABASE_URL="sqlite:///:memory:"), timeout=60
        )
        assert result.returncode != 0
        assert "Unknown command: 'seed_audit'" in result.stderr
