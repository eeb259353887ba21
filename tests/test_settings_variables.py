"""One name per variable: each is named as the setting it sets or listed where it is not
(portal/settings/variables.py), a name a variable had before stops start-up naming the new one,
and `.env.example`, the README's configuration table and the settings agree on names and defaults
(the settings' comments are checked with the other docs, in tests/test_docs.py).

Each case starts a fresh Python, as in tests/test_settings.py, whose helpers these reuse.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from portal.settings.variables import NAMED_OTHERWISE, RENAMED
from tests.test_settings import IDENTITY_PROVIDER, PRODUCTION_ENV, load_each, run_code

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_EXAMPLE = (BASE_DIR / ".env.example").read_text()
README = (BASE_DIR / "README.md").read_text()

# Every variable the settings and gunicorn's configuration read, and the names of the settings.
READ_NAMES = """
import json, runpy
import portal.settings
from portal.settings.base import env
gunicorn = runpy.run_path("deploy/gunicorn.conf.py")
print(json.dumps({
    "settings": env.names,
    "gunicorn": gunicorn["env"].names,
    "setting_names": [name for name in dir(portal.settings) if name.isupper()],
}))
"""

# What the settings and gunicorn's configuration come to, once per case (as LOAD_EACH loads them).
SNAPSHOT_EACH = """
import json, os, runpy, sys
base = dict(os.environ)
snapshots = {}
for case, variables in json.loads(sys.argv[1]).items():
    os.environ.clear()
    os.environ.update(base | variables)
    for module in [name for name in sys.modules if name == "portal.settings" or name.startswith("portal.settings.")]:
        del sys.modules[module]
    import portal.settings
    gunicorn = runpy.run_path("deploy/gunicorn.conf.py")
    values = {name: repr(getattr(portal.settings, name)) for name in dir(portal.settings) if name.isupper()}
    values |= {
        f"gunicorn {name}": value.__qualname__ if callable(value) else repr(value)  # a hook: the same code each load
        for name, value in gunicorn.items()
        if name.islower() and name != "env"
    }
    snapshots[case] = values
print(json.dumps(snapshots))
"""


@pytest.fixture(scope="module")
def names():
    """What a production start with the company's identity provider reads, and the settings it makes."""
    result = run_code(READ_NAMES, {**PRODUCTION_ENV, **IDENTITY_PROVIDER})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def env_example_variables() -> dict[str, str]:
    """Each variable `.env.example` names (set, or commented out), with the value it shows."""
    found = dict(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=(.*)$", ENV_EXAMPLE, flags=re.MULTILINE))
    # `<NAME>_FILE`, where shown, is the file form of a variable, not one of its own.
    return {name: value for name, value in found.items() if not (name.endswith("_FILE") and name[:-5] in found)}


def env_example_comment(name: str) -> str:
    """The lines of `.env.example` from the blank line before `name` up to it."""
    lines = ENV_EXAMPLE[: re.search(rf"^(?:# )?{name}=", ENV_EXAMPLE, flags=re.MULTILINE).start()]
    return lines.rsplit("\n\n", 1)[-1]


def readme_rows() -> list[tuple[list[str], str]]:
    """The README's configuration table: each row's variables and its default column."""
    section = README.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split(" | ") for line in section.splitlines() if line.startswith("| `")]
    return [(re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[0]), cells[1]) for cells in rows]


def readme_defaults() -> dict[str, str]:
    """The variables whose default the table writes as plain values, one per variable (`3.05` /
    `15`); a default told in words ("on unless `DEBUG`", "none") is not among them."""
    defaults = {}
    for variables, column in readme_rows():
        values = re.findall(r"`([^`]*)`", column)
        rest = re.sub(r"`[^`]*`", "", re.sub(r"\([^)]*\)", "", column))
        if len(values) == len(variables) and re.fullmatch(r"[\s,/]*", rest):
            defaults.update(zip(variables, values, strict=True))
    return defaults


class VariableNameTests:
    def test_each_variable_is_named_as_its_setting_or_listed_as_named_otherwise(self, names):
        setting_names = set(names["setting_names"])
        for name in names["settings"]:
            assert NAMED_OTHERWISE.get(name, name) in setting_names, f"{name} sets no setting of its name"
        # The table lists only variables that are read, that are not named as a setting, and
        # the settings they go into.
        assert set(NAMED_OTHERWISE) <= set(names["settings"])
        assert set(NAMED_OTHERWISE) & setting_names == set()
        assert set(NAMED_OTHERWISE.values()) <= setting_names

    def test_old_names_are_read_no_more_and_the_new_ones_are(self, names):
        read = set(names["settings"])
        assert set(RENAMED) & read == set()
        assert set(RENAMED.values()) <= read
        assert set(RENAMED) & set(RENAMED.values()) == set()


class RenamedVariableTests:
    """A variable set by the name it had before would be read as unset, and take its default
    without a word: the old name stops start-up instead, naming the new one."""

    def test_each_old_name_stops_start_up_naming_the_new_one(self):
        cases = {old: {old: "1"} for old in RENAMED} | {"file": {"OIDC_CLIENT_SECRET_FILE": "/run/secrets/oidc"}}
        outcomes = load_each(cases)
        for old, new in RENAMED.items():
            assert outcomes[old] == (
                f"Renamed environment variables are set: {old} is now {new}. Set the new names instead "
                '(README, "Upgrading").'
            )
        assert "OIDC_CLIENT_SECRET_FILE is now PORTAL_OIDC_CLIENT_SECRET_FILE." in outcomes["file"]

    def test_every_old_name_set_is_named_at_once(self):
        [outcome] = load_each({"case": {"FOUR_EYES": "false", "TRUSTED_PROXY_COUNT": "1"}}).values()
        assert "FOUR_EYES is now PORTAL_FOUR_EYES; TRUSTED_PROXY_COUNT is now PORTAL_TRUSTED_PROXY_COUNT." in outcome

    def test_an_old_name_left_empty_is_as_if_unset(self):
        assert load_each({"case": {"FOUR_EYES": "", "OIDC_ISSUER": " "}}) == {"case": "started"}

    def test_the_readmes_upgrade_notes_list_each_old_name_and_its_new_one(self):
        notes = README.split("\n### Upgrading\n", 1)[1].split("\n#", 1)[0]
        assert dict(re.findall(r"^\| `([A-Z_]+)` \| `([A-Z_]+)` \|$", notes, flags=re.MULTILINE)) == RENAMED

    def test_manage_py_refuses_to_run(self, tmp_path):
        database = tmp_path / "refused.sqlite3"
        env = {**PRODUCTION_ENV, "SESSION_MAX_HOURS": "8", "DATABASE_URL": f"sqlite:///{database}"}
        result = run_code("", env, "manage.py", "migrate")
        assert result.returncode != 0
        assert (
            result.stderr.strip()
            .splitlines()[-1]
            .endswith(
                "Renamed environment variables are set: SESSION_MAX_HOURS is now PORTAL_SESSION_MAX_HOURS. Set the new "
                'names instead (README, "Upgrading").'
            )
        )
        assert not database.exists()


class EnvExampleTests:
    def test_lists_exactly_the_variables_the_portal_and_gunicorn_read(self, names):
        assert len(names["gunicorn"]) >= 7  # gunicorn's configuration reads through PortalEnv too
        assert set(env_example_variables()) == set(names["settings"]) | set(names["gunicorn"])

    def test_names_no_old_variable(self):
        assert set(env_example_variables()) & set(RENAMED) == set()

    def test_a_value_other_than_the_default_says_the_default(self):
        """`.env.example` shows production's values; where one is not the default, its comment says
        what the default is."""
        defaults = readme_defaults()
        for name, value in env_example_variables().items():
            if value and name in defaults and value != defaults[name]:
                assert f"Default: {defaults[name]}" in env_example_comment(name), name

    def test_starts_the_portal_as_it_is(self):
        """Its values, the secrets filled in, are all accepted."""
        example = {name: value for name, value in env_example_variables().items() if value}
        assert load_each({"example": {**example, **PRODUCTION_ENV, **IDENTITY_PROVIDER}}) == {"example": "started"}


class ReadmeTableTests:
    def test_lists_exactly_the_variables_of_env_example(self):
        in_readme = [name for variables, _ in readme_rows() for name in variables]
        assert len(in_readme) == len(set(in_readme))  # each once
        assert set(in_readme) == set(env_example_variables())

    def test_each_default_shown_is_the_real_one(self):
        """Setting a variable to the default the table shows changes no setting."""
        defaults = readme_defaults()
        assert {"POLYTOMIC_POOL_SIZE", "CONN_MAX_AGE", "PORTAL_OIDC_SCOPES", "GUNICORN_THREADS"} <= set(defaults)
        cases = {"default": {}} | {name: {name: value} for name, value in defaults.items()}
        result = run_code(SNAPSHOT_EACH, {**PRODUCTION_ENV, **IDENTITY_PROVIDER}, json.dumps(cases))
        assert result.returncode == 0, result.stderr
        snapshots = json.loads(result.stdout)
        for name in defaults:
            changed = {key for key, value in snapshots[name].items() if snapshots["default"].get(key) != value}
            assert changed == set(), f"{name}={defaults[name]} is not the default: it changes {changed}"
