"""Text columns that store whatever Polytomic sends and read it back unchanged: a name holding NUL or a
lone surrogate included. orgadmin's models use them; its migrations name them through
`orgadmin.models`, which re-exports them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models

# --- Text as Polytomic sent it ----------------------------------------------------------------
#
# Anything Polytomic returns may be stored: a name holding NUL (which PostgreSQL's text and jsonb
# refuse) or a lone surrogate (json.loads of "\ud800" yields one; it is not UTF-8, so no database
# takes it). The fields below store such a text as STORED_MARK followed by its Python escapes
# (`unicode_escape`: ASCII, and exact, where JSON's escapes would join the two halves of a
# surrogate pair into one character), and read it back as it was, so that a value read back
# compares equal to what Polytomic sends (a change request's `organization_state` decides whether
# it is void). Ordinary text is stored as it is; one that starts with the mark is escaped too, so
# that reading back is exact whatever the text. (The audit log's entries are hashed as stored and
# write these characters as visible escapes instead: audit.store.make_storable.)

STORED_MARK = "\ue000"  # the first private-use character: no text Polytomic means to send begins with it


def stored_text(value: str) -> str:
    """`value` as both databases store it, exactly recoverable (`read_text`)."""
    if value.startswith(STORED_MARK) or "\x00" in value or not _is_utf8(value):
        return STORED_MARK + value.encode("unicode_escape").decode("ascii")
    return value


def read_text(value: str) -> str:
    if not value.startswith(STORED_MARK):
        return value
    try:
        return value[len(STORED_MARK) :].encode("ascii").decode("unicode_escape")
    except UnicodeError:  # stored before these fields were: as it is
        return value


def _is_utf8(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def _each_text(value: Any, change: Callable[[str], str]) -> Any:
    """`value` (JSON: objects, lists, texts, numbers) with `change` applied to each text and key."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {change(key) if isinstance(key, str) else key: _each_text(item, change) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_each_text(item, change) for item in value]
    return value


class _NamedInModels:
    """Migrations name the field as `orgadmin.models`' own (which re-exports it): a migration
    imports nothing of the portal but its models modules (tests/test_migrations.py)."""

    def deconstruct(self) -> tuple[str, str, list[Any], dict[str, Any]]:
        name, _, args, kwargs = super().deconstruct()  # type: ignore[misc]
        return name, f"orgadmin.models.{type(self).__name__}", args, kwargs


class StorableTextField(_NamedInModels, models.TextField):
    """A text column that stores any Python text and reads it back unchanged (see STORED_MARK)."""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        return stored_text(value) if isinstance(value, str) else value

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return read_text(value) if isinstance(value, str) else value


class StorableJSONField(_NamedInModels, models.JSONField):
    """A JSON column whose texts (and keys) may hold anything Python's JSON reads, NUL and lone
    surrogates included: PostgreSQL's jsonb refuses both escapes (see STORED_MARK)."""

    def get_prep_value(self, value: Any) -> Any:
        return super().get_prep_value(_each_text(value, stored_text))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        return _each_text(super().from_db_value(value, expression, connection), read_text)
