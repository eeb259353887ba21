"""allauth's internals, as `staff.allauth_internals` relies on them: these fail when an upgrade of
django-allauth moves or changes one, before a sign-in does. And no other product module uses them."""

from __future__ import annotations

import inspect
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from allauth.socialaccount.providers.oauth2.client import OAuth2Error
from allauth.socialaccount.providers.openid_connect.views import OpenIDConnectOAuth2Adapter
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import RequestFactory
from django.urls import reverse

from staff.allauth_internals import SignatureCheckingAdapter, authentication_records
from tests.factories import PASSWORD, make_user
from tests.support import BASE_DIR

ISSUER = "https://idp.example.test"
CLIENT_ID = "portal"
PRODUCT = ("audit", "orgadmin", "staff", "portal", "devtools", "benchmarks")


class AuthenticationRecordsTests:
    @pytest.mark.django_db
    def test_a_password_sign_in_is_recorded_in_the_session(self, client):
        user = make_user("vera")
        before = time.time()
        assert client.post(reverse("account_login"), {"login": "vera", "password": PASSWORD}).status_code == 302
        request = RequestFactory().get("/")
        request.session = client.session
        [step] = authentication_records(request, user)
        assert step["method"] == "password"
        assert before <= step["at"] <= time.time()

    @pytest.mark.django_db
    def test_another_users_session_has_no_records(self, client):
        make_user("vera")
        client.post(reverse("account_login"), {"login": "vera", "password": PASSWORD})
        request = RequestFactory().get("/")
        request.session = client.session
        assert authentication_records(request, make_user("ada")) == []


@pytest.fixture
def published_keys():
    """A provider's signing key, its public half published as a JWKS on loopback; the key and the URL."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key())), "kid": "k1", "alg": "RS256"}
    body = json.dumps({"keys": [jwk]}).encode()

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Keys)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield key, f"http://127.0.0.1:{server.server_port}/jwks"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def id_token(key, **claims) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "s1", "iat": now, "exp": now + 300, **claims}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


class SignatureCheckingAdapterTests:
    def adapter(self, keys_url):
        class Probe(SignatureCheckingAdapter):
            openid_config = {"jwks_uri": keys_url, "issuer": ISSUER}  # as the provider's discovery says

        return Probe(RequestFactory().get("/"), "company")

    class App:
        client_id = CLIENT_ID

    def test_allauth_decodes_the_id_token_through_the_method_overridden(self):
        assert list(inspect.signature(OpenIDConnectOAuth2Adapter._decode_id_token).parameters) == [
            "self", "app", "id_token"
        ]  # fmt: skip
        assert "self._decode_id_token(app, " in inspect.getsource(OpenIDConnectOAuth2Adapter.complete_login)

    @pytest.mark.django_db
    def test_a_token_signed_with_the_published_key_decodes(self, published_keys):
        key, url = published_keys
        assert self.adapter(url)._decode_id_token(self.App(), id_token(key))["sub"] == "s1"

    @pytest.mark.django_db
    def test_a_token_signed_with_another_key_is_refused(self, published_keys):
        _, url = published_keys
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        with pytest.raises(OAuth2Error):
            self.adapter(url)._decode_id_token(self.App(), id_token(other))

    @pytest.mark.django_db
    def test_a_token_for_another_audience_is_refused(self, published_keys):
        key, url = published_keys
        with pytest.raises(OAuth2Error):
            self.adapter(url)._decode_id_token(self.App(), id_token(key, aud="someone-else"))


class OneAdapterTests:
    def test_no_other_product_module_uses_allauths_internals(self):
        users = [
            str(path.relative_to(BASE_DIR))
            for package in PRODUCT
            for path in (BASE_DIR / package).rglob("*.py")
            if re.search(r"allauth\.[\w.]*internal|_decode_id_token", path.read_text())
        ]
        assert users == ["staff/allauth_internals.py"]
