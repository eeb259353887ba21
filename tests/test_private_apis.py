"""The product and its development tools use their libraries' public APIs: no private attribute of
Django, requests or any other library is read, written or overridden outside
`staff/allauth_internals.py` (allauth's internals, which have no public equivalent, held to the
library by tests/test_allauth_internals.py)."""

from __future__ import annotations

import ast
import importlib
import inspect
from types import FunctionType

from tests.support import BASE_DIR

PRODUCT = ("audit", "orgadmin", "staff", "portal", "devtools")
ADAPTER = "staff/allauth_internals.py"
# Underscored, yet Django's documented API: the model's options, its default manager, an
# instance's state (https://docs.djangoproject.com/en/5.2/ref/models/meta/,
# .../topics/db/managers/#default-managers, .../ref/models/instances/#state).
DOCUMENTED = {"_meta", "_default_manager", "_state"}
# Attributes the product keeps on objects of its own making (the permissions read for a request).
OURS = {"_portal_permissions"}


def product_files():
    for package in PRODUCT:
        for path in sorted((BASE_DIR / package).rglob("*.py")):
            if str(path.relative_to(BASE_DIR)) != ADAPTER:
                yield path


def is_self(node: ast.expr) -> bool:
    return isinstance(node, ast.Name) and node.id == "self"


def product_names() -> set[str]:
    """Every name the product defines: functions, classes, variables, imports, its own attributes."""
    names = set()
    for path in product_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.alias):
                names.add(node.asname or node.name.split(".")[-1])
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and is_self(node.value):
                names.add(node.attr)
    return names


class PrivateAttributeTests:
    def test_no_private_attribute_of_a_library_is_used(self):
        ours = product_names() | DOCUMENTED | OURS
        used = [
            f"{path.relative_to(BASE_DIR)}:{node.lineno}: .{node.attr}"
            for path in product_files()
            for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and node.attr not in ours
        ]
        assert used == [], used

    def test_no_private_method_of_a_library_is_overridden(self):
        overridden = []
        for path in product_files():
            module = importlib.import_module(".".join(path.relative_to(BASE_DIR).with_suffix("").parts))
            for cls in vars(module).values():
                if not inspect.isclass(cls) or cls.__module__ != module.__name__:
                    continue
                libraries = [base for base in cls.__mro__[1:] if base.__module__.split(".")[0] not in PRODUCT]
                overridden += [
                    f"{cls.__module__}.{cls.__name__}.{name}"
                    for name, value in vars(cls).items()
                    if name.startswith("_") and not name.endswith("_")  # not dunder, nor enum's _sunder_
                    and isinstance(value, FunctionType | property | classmethod | staticmethod)
                    and any(name in vars(base) for base in libraries)
                ]  # fmt: skip
        assert overridden == [], overridden
