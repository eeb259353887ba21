"""An organization's fields, in one table, and the two records built from it.

`FIELDS` is the one place that lists them: request bodies, reading answers, the forms, the edit
guard's change summary and the audit log's masking are all built from it. Polytomic replaces the
whole SSO and OIDC configuration on every update, and never returns `client_id` or
`client_secret` (Organization schema, API version 2025-09-18).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, make_dataclass
from dataclasses import field as dataclass_field
from enum import StrEnum
from typing import Any

from orgadmin.polytomic.text import text_field, uuid_text


class Section(StrEnum):
    ORGANIZATION = "Organization"
    SAML = "SAML SSO"
    OIDC = "OIDC"


class Kind(StrEnum):
    """What a field holds, for the portal's checks of it (`orgadmin.field_rules`)."""

    TEXT = "text"
    DOMAIN = "domain"  # a bare domain, compared and sent lower-cased
    HTTPS_URL = "https URL"


@dataclass(frozen=True)
class Field:
    name: str  # the API's name, which the forms and the audit log use too
    label: str
    section: Section
    help_text: str
    max_length: int
    kind: Kind = Kind.TEXT
    required: bool = False
    readable: bool = True  # Polytomic returns it
    secret: bool = False  # never stored, logged or shown: the audit log keeps only whether it was sent
    marks_section: bool = False  # its being set is Polytomic's only sign that its section is configured
    remembered: bool = False  # not returned, so the portal shows the one it last sent (from its audit log)
    searchable: bool = False  # the organizations list finds an organization by it
    # It decides where the customer's users sign in: on an organization that has single sign-on,
    # adding, changing or clearing it waits for a second person ("change-sso" in
    # PORTAL_APPROVAL_FOR; orgadmin/edit_guard.py, README "Four eyes").
    routes_sign_in: bool = False


FIELDS: tuple[Field, ...] = (
    Field("name", "Name", Section.ORGANIZATION, "The customer's name. Unique across your partner account.", 255,
          required=True, searchable=True),
    Field("sso_domain", "SSO domain", Section.SAML,
          "Email domain that sends this customer's users to their single sign-on, e.g. example.com.", 253,
          kind=Kind.DOMAIN, searchable=True, routes_sign_in=True),
    Field("sso_org_id", "SSO organization id", Section.SAML,
          "WorkOS organization id of the customer's SAML connection, e.g. org_01H….", 255, marks_section=True,
          routes_sign_in=True),
    Field("issuer", "Issuer URL", Section.OIDC,
          "The identity provider's OIDC issuer, an https:// URL, e.g. https://example.okta.com.", 2000,
          kind=Kind.HTTPS_URL, marks_section=True, routes_sign_in=True),
    Field("client_id", "Client id", Section.OIDC, "OIDC client id issued by the identity provider.", 255,
          readable=False, remembered=True, routes_sign_in=True),
    Field("client_secret", "Client secret", Section.OIDC,
          "OIDC client secret. Write-only: Polytomic never shows it again.", 1000, readable=False, secret=True),
)  # fmt: skip

BY_NAME: dict[str, Field] = {field.name: field for field in FIELDS}
READABLE = tuple(field for field in FIELDS if field.readable)
SECRETS = tuple(field.name for field in FIELDS if field.secret)
SEARCHABLE = tuple(field.name for field in FIELDS if field.searchable)
# The one field the portal remembers as it last sent it (the OIDC client id).
[REMEMBERED] = [field.name for field in FIELDS if field.remembered]
# The fields that decide where the customer's users sign in.
ROUTING = tuple(field for field in FIELDS if field.routes_sign_in)
# Per section, the field whose being set says the section is configured.
MARKERS: dict[Section, str] = {field.section: field.name for field in FIELDS if field.marks_section}


def in_section(section: Section) -> tuple[Field, ...]:
    return tuple(field for field in FIELDS if field.section is section)


class _OrganizationState:
    """What the two records know about an organization's single sign-on."""

    __slots__ = ()

    @property
    def has_saml_sso(self) -> bool:
        return self.configures(Section.SAML)

    @property
    def has_oidc(self) -> bool:
        """A non-empty issuer is the only sign Polytomic gives that OIDC is configured."""
        return self.configures(Section.OIDC)

    def configures(self, section: Section) -> bool:
        return bool(getattr(self, MARKERS[section]))

    def values(self) -> dict[str, str]:
        """The fields by API name, as this record holds them."""
        return {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "id"}


class _ReadOrganization(_OrganizationState):
    __slots__ = ()

    @classmethod
    def from_api(cls, data: Any) -> Organization:
        """Reads one organization, ignoring unknown fields; a missing or null field reads as blank.
        An id already written as Python writes a UUID is kept as it is (`Organizations` reads the
        items of a list answer with this too, those shown or searched)."""
        if not isinstance(data, Mapping) or not isinstance(organization_id := data.get("id"), str):
            raise ValueError("not an organization")
        return cls(uuid_text(organization_id), *[text_field(data, name) for name in _READABLE_NAMES])


class _InputOrganization(_OrganizationState):
    __slots__ = ()

    def body(self) -> dict[str, str]:
        """The JSON body of a create or an update: the name, and every other field that is not
        blank, trimmed. Under full replacement a field left out is cleared, so leaving it out is
        how a blank is said, as Polytomic's SDKs say it (they never send null)."""
        values = {name: value.strip() for name, value in self.values().items()}
        return {name: value for name, value in values.items() if value or BY_NAME[name].required}


def _record(name: str, fields: tuple[Field, ...], base: type, doc: str, *, with_id: bool) -> type:
    """A frozen dataclass with a text attribute per field (blank by default); secrets stay out
    of its repr."""
    attributes: list[Any] = [("id", str)] if with_id else []
    attributes += [
        (field.name, str, dataclass_field(default="", repr=not field.secret))
        if not field.required
        else (field.name, str)
        for field in fields
    ]
    record = make_dataclass(name, attributes, bases=(base,), frozen=True, slots=True)
    record.__doc__ = doc
    record.__module__ = __name__
    return record


# An organization as Polytomic returns it: its id and the readable fields.
Organization = _record(
    "Organization", READABLE, _ReadOrganization, "An organization as Polytomic returns it.", with_id=True
)
# What a create or an update sends: the name and the whole SSO/OIDC configuration.
OrganizationInput = _record(
    "OrganizationInput", FIELDS, _InputOrganization, "What a create or an update sends.", with_id=False
)


_READABLE_NAMES = tuple(field.name for field in READABLE)


class Organizations(Sequence):
    """Every organization of a list answer, each read as an `Organization` only when asked for.

    A partner has 10,000 organizations and more, all in one answer, and a list page shows 25:
    reading each into a record took more CPU than the rest of the page (docs/performance.md). The
    answer is checked whole when it arrives (each item an object whose id is a UUID and whose
    fields are text or null), so that reading any item later cannot fail; only the items shown,
    searched or compared are read.
    """

    __slots__ = ("_items", "_read")

    def __init__(self, items: list[Any]) -> None:
        _check_organizations(items)
        self._items = items
        self._read: dict[int, Organization] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[position] for position in range(*index.indices(len(self._items)))]
        position = range(len(self._items))[index]  # IndexError as a list's
        if position not in self._read:
            self._read[position] = Organization.from_api(self._items[position])
        return self._read[position]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Organizations | list | tuple):
            return len(self) == len(other) and all(mine == theirs for mine, theirs in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a sequence, compared by its items

    def __repr__(self) -> str:
        return f"<Organizations: {len(self)}>"


def _check_organizations(items: list[Any]) -> None:
    """Raises ValueError unless every item reads as an organization: an object whose id is a
    UUID and whose readable fields are text or missing or null. One field at a time across the
    items, so that 10,000 items cost a few milliseconds."""
    if not all(item.__class__ is dict or isinstance(item, Mapping) for item in items):
        raise ValueError("not an organization")
    ids = [item.get("id") for item in items]
    if {value.__class__ for value in ids} - {str}:
        raise ValueError("an organization's id is not a string")
    for value in ids:
        uuid_text(value)  # ValueError if it is no UUID
    for name in _READABLE_NAMES:
        if {item.get(name).__class__ for item in items} - {str, type(None)}:
            raise ValueError(f"{name} is not a string")
