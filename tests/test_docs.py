"""The docs against the code they describe, so that neither can drift from the other unnoticed.

docs/architecture.md against import-linter's contracts (pyproject.toml) and the tree; the modules
and files the settings name, in their strings and comments, against the tree; the product's
docstrings and comments against figures that go stale (they belong in docs/performance.md, beside
the run they come from). The README's configuration table is held to `.env.example` and to the
settings' defaults by tests/test_settings_variables.py.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from pathlib import Path

import pytest

from orgadmin.polytomic.client import PolytomicClient

BASE_DIR = Path(__file__).resolve().parent.parent
ARCHITECTURE = (BASE_DIR / "docs" / "architecture.md").read_text()
CONTRACTS = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["tool"]["importlinter"]
ROOTS = tuple(CONTRACTS["root_packages"])
# What the document names in backticks: `audit.store`, `queries.organization_list`, `orgadmin/web.py`.
NAMED = re.findall(r"`([^`\s]+)`", ARCHITECTURE)
# Packages whose modules the document may name without the package (`organizations.queries.organization_get`).
SHORT_NAMES_FROM = ("orgadmin", "orgadmin.polytomic", "staff")
FILE_ROOTS = (*ROOTS, "benchmarks", "tests", "deploy", "templates", "docs")


def contract_modules() -> set[str]:
    """Every module of the portal's own that a contract names: layers, sources and forbidden ones."""
    modules = set(ROOTS)
    for contract in CONTRACTS["contracts"]:
        for layer in contract.get("layers", []):
            modules |= {name.strip() for name in re.split(r"[:|]", layer)}
        modules |= set(contract.get("source_modules", [])) | set(contract.get("forbidden_modules", []))
    return {module for module in modules if module.split(".")[0] in ROOTS}


def module_file(dotted: str) -> Path | None:
    path = BASE_DIR.joinpath(*dotted.split("."))
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def resolves(dotted: str) -> bool:
    """A module, or an attribute of one (`orgadmin.web.healthz`)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        if module_file(".".join(parts[:cut])) is not None:
            target = importlib.import_module(".".join(parts[:cut]))
            for name in parts[cut:]:
                if not hasattr(target, name):
                    return False
                target = getattr(target, name)
            return True
    return False


def full_name(token: str) -> str | None:
    """The dotted name a backticked token stands for, or None when it names nothing of the portal's
    (`requests`, `check --deploy`, `ID:HASH`)."""
    if not re.fullmatch(r"[A-Za-z_]\w*(\.\w+)+", token):
        return None
    first = token.split(".")[0]
    if first in ROOTS:
        return token
    for package in SHORT_NAMES_FROM:
        if module_file(f"{package}.{first}") is not None:
            return f"{package}.{token}"
    return None


class ArchitectureDocTests:
    def test_quotes_every_contract_by_name(self):
        text = " ".join(ARCHITECTURE.split())
        missing = [contract["name"] for contract in CONTRACTS["contracts"] if contract["name"] not in text]
        assert missing == []

    def test_names_every_module_a_contract_names(self):
        modules = contract_modules()
        assert {"orgadmin.web", "audit.store", "orgadmin.polytomic.text", "staff"} <= modules
        assert sorted(module for module in modules if module not in NAMED) == []

    def test_every_module_it_names_exists(self):
        names = {full_name(token) for token in NAMED} - {None}
        assert len(names) > 40  # the pattern still finds them
        assert sorted(name for name in names if not resolves(name)) == []

    def test_every_file_it_names_exists(self):
        paths = [token for token in NAMED if "/" in token and token.split("/")[0] in FILE_ROOTS]
        assert len(paths) > 20
        assert [path for path in paths if not list(BASE_DIR.glob(path.rstrip("/")))] == []

    def test_names_the_middleware_in_its_order(self):
        from django.conf import settings

        named = [name for name in settings.MIDDLEWARE if name.startswith(ROOTS)]
        positions = [ARCHITECTURE.find(f"`{name}`") for name in named]
        assert -1 not in positions, named
        assert positions == sorted(positions)


class SettingsCommentTests:
    """The settings name middleware, backends and modules by path, in strings and in comments: a
    module that moved must not leave its old path behind."""

    SOURCE = "\n".join(path.read_text() for path in sorted((BASE_DIR / "portal" / "settings").glob("*.py")))

    def test_every_module_they_name_exists(self):
        from django.conf import settings

        named = set(re.findall(rf"\b(?:{'|'.join(ROOTS)})(?:\.[A-Za-z_]\w*)+", self.SOURCE))
        assert len(named) > 30  # the pattern still finds them
        # Loggers are named like modules, and need not be one.
        assert sorted(name for name in named - set(settings.LOGGING["loggers"]) if not resolves(name)) == []

    def test_every_file_they_name_exists(self):
        named = set(re.findall(rf"\b(?:{'|'.join(FILE_ROOTS)})/[\w/.]*\w", self.SOURCE))
        assert len(named) > 10  # the pattern still finds them
        assert sorted(path for path in named if not (BASE_DIR / path).exists()) == []


class ReadmeTests:
    README = (BASE_DIR / "README.md").read_text()

    def test_holds_no_benchmark_run(self):
        assert not re.search(r"\bat commit [0-9a-f]{7}", self.README)
        assert "Portal benchmark:" not in self.README  # the first line of a run's output
        assert "docs/performance.md" in self.README


DOCUMENTS = [
    "README.md",
    "orgadmin/README.md",
    "staff/README.md",
    "docs/architecture.md",
    "docs/performance.md",
    "docs/polytomic-calls.md",
]


class PolytomicCallsDocTests:
    """docs/polytomic-calls.md says what each of the client's calls rests on: a call added to the
    client and left out of it would rest on nothing anyone can see."""

    DOCUMENT = (BASE_DIR / "docs" / "polytomic-calls.md").read_text()

    def test_names_every_call_of_the_client(self):
        calls = {name for name, value in vars(PolytomicClient).items() if callable(value) and not name.startswith("_")}
        rows = set(re.findall(r"^\| `(\w+)` \|", self.DOCUMENT, flags=re.MULTILINE))
        assert calls == rows

    def test_is_linked_from_the_readme(self):
        assert "(docs/polytomic-calls.md)" in ReadmeTests.README


def heading_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors_of(path: Path) -> set[str]:
    return {heading_anchor(heading) for heading in re.findall(r"^#+ (.+)$", path.read_text(), flags=re.MULTILINE)}


@pytest.mark.parametrize("document", DOCUMENTS)
class LinkTests:
    def test_every_link_leads_somewhere(self, document):
        """A file that exists, and a heading in it (`README.md#the-audit-log`, `#production`)."""
        path = BASE_DIR / document
        broken = []
        for target, anchor in re.findall(r"\]\(([^)#:\s]*)(?:#([^)\s]+))?\)", path.read_text()):
            linked = path.parent / target if target else path
            if not linked.exists() or (anchor and anchor not in anchors_of(linked)):
                broken.append(f"{target}#{anchor}")
        assert broken == []


# A measured time or speed-up: "0.3 ms", "7 µs", "a tenth of", "3x faster".
FIGURE = re.compile(r"\d(?:[.,]\d+)? ?(?:ms|µs|us)\b|a tenth of|\d ?[×x] (?:faster|slower)|times faster")


@pytest.mark.parametrize("package", ["audit", "orgadmin", "staff", "portal"])
class ProductSourceTests:
    def test_quotes_no_timing(self, package):
        found = [
            f"{path.relative_to(BASE_DIR)}:{number}: {line.strip()}"
            for path in sorted((BASE_DIR / package).rglob("*.py"))
            if "migrations" not in path.parts
            for number, line in enumerate(path.read_text().splitlines(), start=1)
            if FIGURE.search(line)
        ]
        assert found == []
