"""Hypothesis over the create and edit forms: never a 500, output escaped, and nothing that
Polytomic would refuse as invalid is ever sent to it."""

from __future__ import annotations

import re
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from audit.models import AuditEntry
from devtools.sandbox import ACME_ID, GLOBEX_ID
from devtools.support import hidden_field
from tests import contract
from tests.factories import make_user

INJECTIONS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{ 7*7 }}{% debug %}",
    "'; DROP TABLE orgadmin_auditentry; --",
    "\x00",
    "\u202e\u200b",
]
URL_TRICKS = [
    "javascript:alert(1)",
    "http://plain.example",
    "https://user:pass@idp.example",
    "https://xn--80ak6aa92e.com",
    "https://пример.испытание",
    "https://",
    "https:///path",
    "//idp.example",
    "https://idp.example/\x00",
]
DOMAIN_TRICKS = [
    "example.com",
    "https://example.com",
    "a@b.example",
    "exa mple.com",
    "пример.рф",
    "x" * 300 + ".com",
    "",
]

VALID = {
    "name": "Fuzz Co",
    "sso_domain": "fuzz.example",
    "sso_org_id": "org_fuzz",
    "issuer": "https://fuzz.okta.example",
    "client_id": "fuzz-client",
    "client_secret": "fuzz-secret",
}
nasty = st.one_of(
    st.text(alphabet=st.characters(codec=None), max_size=300),  # every Unicode category, controls included
    st.text(min_size=256, max_size=5000),
    st.sampled_from(INJECTIONS + URL_TRICKS + DOMAIN_TRICKS),
    st.just(""),
)
# A valid form with one to three fields replaced: each bad value meets the validation it must pass.
organization_form = st.dictionaries(st.sampled_from(list(VALID)), nasty, min_size=1, max_size=3).map(
    lambda replaced: VALID | replaced
)
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def last_entry_id() -> int:
    return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


def check(response, form: dict[str, str], since_entry: int, sandbox) -> None:
    """`since_entry`: examples share one test transaction, so only this example's entries count.
    Each example starts the sandbox afresh, so its exchanges are held to the contract here, not
    only the last example's after the test."""
    page = response.content.decode()
    assert response.status_code in (200, 302, 422), response.status_code
    for value in form.values():
        if value in INJECTIONS and re.search(r"[<>\"]", value):
            assert value not in page, "a value was rendered unescaped"
    # The sandbox is as strict as Polytomic: had invalid input reached it, it would have answered 400
    # or 422. The portal stopped every such value first.
    assert not AuditEntry.objects.filter(id__gt=since_entry, response_status__in=[400, 422]).exists()
    broken = contract.problems(sandbox.sandbox.received)
    assert not broken, "Polytomic's contract was broken:\n" + "\n".join(broken)


@pytest.mark.django_db
@FUZZ
@given(form=organization_form)
@example(form=VALID | {"name": "\ud800", "client_id": "\udfff x"})  # lone surrogates: invalid UTF-8 on the wire
def test_create_form(client, sandbox, form):
    sandbox.sandbox.reset()
    client.force_login(make_user_once("fuzz-editor"))
    since = last_entry_id()
    check(post_as_browser(client, "/organizations/new/", form | {"form_key": "f" * 32}), form, since, sandbox)


@pytest.mark.django_db
@FUZZ
@given(form=organization_form, remove_oidc=st.booleans())
def test_edit_form(client, sandbox, form, remove_oidc):
    sandbox.sandbox.reset()
    client.force_login(make_user_once("fuzz-editor"))
    opened = client.get(f"/organizations/{GLOBEX_ID}/edit/").content.decode()
    hidden = {name: hidden_field(opened, name) for name in ("form_key", "opened")}
    data = form | hidden | ({"remove_oidc": "on"} if remove_oidc else {})
    since = last_entry_id()
    check(post_as_browser(client, f"/organizations/{GLOBEX_ID}/edit/", data), form, since, sandbox)


def post_as_browser(client, url: str, form: dict[str, str]):
    """Posts the form URL-encoded, as a browser does. A lone surrogate cannot be encoded as UTF-8:
    it is sent as the bytes a careless or hostile client would send (invalid UTF-8), so that
    every category of character still reaches the portal."""
    body = urlencode({name: value.encode("utf-8", "surrogatepass") for name, value in form.items()})
    return client.post(url, body, content_type="application/x-www-form-urlencoded")


def make_user_once(username: str):
    from django.contrib.auth.models import User

    return User.objects.filter(username=username).first() or make_user(username, role="Editor")


# The query strings of the list pages: every filter, cursor and page number, any value.
AUDIT_PARAMETERS = ["organization", "actor", "action", "outcome", "since", "until", "request", "before", "after"]
query_value = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.from_regex(r"\A[0-9]{1,25}-[0-9]{1,25}\Z"),  # cursors, in range or not
    st.sampled_from(["9999-12-31", "0001-01-01", "0000-00-00", "2026-02-30", "1e309", "²-1", "-1", "0", " "]),
)


@pytest.mark.django_db
@FUZZ
@given(query=st.dictionaries(st.sampled_from(AUDIT_PARAMETERS), query_value, max_size=5))
def test_audit_query_strings(client, query):
    from django.contrib.auth.models import User

    client.force_login(User.objects.filter(username="fuzz-admin").first() or make_user("fuzz-admin", role="Admin"))
    for url in ("/audit/", "/audit/export.csv"):
        response = client.get(url, query)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert response.status_code == 200, (url, query, body[:500])


@pytest.mark.django_db
@FUZZ
@given(q=query_value, page=query_value)
def test_organization_list_query_strings(client, sandbox, q, page):
    client.force_login(make_user_once("fuzz-editor"))
    for htmx in ({}, {"HTTP_HX_REQUEST": "true"}):
        assert client.get("/organizations/", {"q": q, "page": page}, **htmx).status_code == 200


# --- A customer's setup link: the public form, its live check, and any token -----------------------

SETUP_VALID = {"issuer": "https://fuzz.okta.example", "client_id": "fuzz-client", "client_secret": "fuzz-secret"}
setup_form = st.dictionaries(st.sampled_from([*SETUP_VALID, "submit_anyway"]), nasty, min_size=1, max_size=3).map(
    lambda replaced: SETUP_VALID | replaced
)


def fresh_setup_link() -> str:
    """A usable link for Acme, made directly (the staff page is not under test here); its token."""
    import secrets
    from datetime import timedelta

    from django.utils import timezone

    from orgadmin.models import SetupLink
    from orgadmin.setup_links.links import token_hash

    token = secrets.token_urlsafe(32)
    SetupLink.objects.create(
        organization_id=ACME_ID, organization_name="Acme Corporation", token_hash=token_hash(token),
        created_by=make_user_once("fuzz-editor"), expires_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    return token


@pytest.mark.django_db
@FUZZ
@given(form=setup_form)
def test_setup_link_form(sandbox, settings, form):
    from django.core.cache import cache
    from django.test import Client

    sandbox.sandbox.reset()
    cache.clear()
    settings.PORTAL_ISSUER_CHECK_TIMEOUT_SECONDS = 0.5
    token = fresh_setup_link()
    customer = Client()
    since = last_entry_id()
    response = post_as_browser(customer, f"/setup/{token}/", form)
    page = response.content.decode()
    assert response.status_code in (200, 409, 422), response.status_code
    for value in form.values():
        if value in INJECTIONS and re.search(r"[<>\"]", value):
            assert value not in page, "a value was rendered unescaped"
    assert "fuzz-secret" not in page  # a secret is never rendered back
    assert not AuditEntry.objects.filter(id__gt=since, response_status__in=[400, 422]).exists()
    check = post_as_browser(customer, f"/setup/{token}/check/", {"issuer": form["issuer"]})
    assert check.status_code in (200, 404, 422), check.status_code  # 404: the link was used by the post
    assert set(check.json()) == {"passed", "message"}


@pytest.mark.django_db
@FUZZ
@given(token=st.text(alphabet=st.characters(codec="utf-8", exclude_characters="/?#"), min_size=1, max_size=200))
def test_setup_link_tokens(token):
    from urllib.parse import quote

    from django.core.cache import cache
    from django.test import Client

    cache.clear()
    response = Client().get(f"/setup/{quote(token, safe='')}/")
    assert response.status_code == 404
    assert b"This link is not valid" in response.content
