"""The per-request reads written as fixed SQL: the session, the user and their permissions read
exactly what Django's own queries read."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.utils import timezone

from staff.backends import ModelBackendOneQuery
from staff.sessions import SessionStore
from tests.factories import make_user

pytestmark = pytest.mark.django_db


class SessionStoreTests:
    def test_a_saved_session_loads_as_it_was_saved(self):
        store = SessionStore()
        store["answer"] = {"kept": [1, "two"]}
        store.save()
        loaded = SessionStore(session_key=store.session_key)
        assert loaded["answer"] == {"kept": [1, "two"]}
        assert loaded.session_key == store.session_key

    def test_an_expired_session_loads_empty_and_its_key_is_dropped(self):
        store = SessionStore()
        store["answer"] = 42
        store.save()
        Session.objects.filter(session_key=store.session_key).update(expire_date=timezone.now() - timedelta(seconds=1))
        loaded = SessionStore(session_key=store.session_key)
        assert dict(loaded.items()) == {}
        assert loaded.session_key is None

    @pytest.mark.parametrize("key", ["nosuchsessionkey0123456789abcdef", "short", "x" * 41])
    def test_an_unknown_or_malformed_key_loads_empty(self, key):
        loaded = SessionStore(session_key=key)
        assert dict(loaded.items()) == {}
        assert loaded.session_key is None


class UserTests:
    def test_the_user_is_read_whole(self):
        user = make_user("reader", role="Viewer", email="reader@example.com", first_name="Rea")
        read = ModelBackendOneQuery().get_user(user.pk)
        assert isinstance(read, get_user_model())
        assert (read.pk, read.username, read.email, read.first_name, read.password) == (
            user.pk, "reader", "reader@example.com", "Rea", user.password,
        )  # fmt: skip

    def test_an_inactive_missing_or_malformed_user_is_no_user(self):
        inactive = make_user("gone", role="Viewer", is_active=False)
        assert ModelBackendOneQuery().get_user(inactive.pk) is None
        assert ModelBackendOneQuery().get_user(inactive.pk + 1000) is None
        assert ModelBackendOneQuery().get_user("not-an-id") is None
        assert ModelBackendOneQuery().get_user(str(make_user("texted").pk)).username == "texted"

    def test_permissions_of_several_groups_and_none(self):
        user = make_user("both", role="Viewer")
        user.groups.add(*type(user).groups.field.related_model.objects.filter(name="Editor"))
        user = ModelBackendOneQuery().get_user(user.pk)
        assert "orgadmin.change_organization" in user.get_all_permissions()
        assert "orgadmin.view_organization" in user.get_all_permissions()
        nobody = ModelBackendOneQuery().get_user(make_user("nobody").pk)
        assert nobody.get_all_permissions() == set()
