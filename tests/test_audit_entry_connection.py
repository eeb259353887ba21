"""Which connection an audit entry is written on (`audit.store.database_for_entry`): its own on
PostgreSQL inside a transaction of the caller's, so that it outlives the caller's rollback
(tests/test_audit.py, RollbackTests); the default one otherwise, a test case's transaction included."""

from __future__ import annotations

import pytest
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from audit.store import AUDIT_DB_ALIAS, database_for_entry

pytestmark = pytest.mark.django_db


class DatabaseForEntryTests:
    def test_a_test_cases_own_transaction_is_not_the_callers(self, django_assert_num_queries):
        with django_assert_num_queries(0):
            assert database_for_entry() == DEFAULT_DB_ALIAS

    def test_inside_the_callers_transaction_postgresql_has_its_own_connection(self, django_assert_num_queries):
        separate = AUDIT_DB_ALIAS if AUDIT_DB_ALIAS in connections.settings else DEFAULT_DB_ALIAS  # SQLite: none
        with transaction.atomic(), django_assert_num_queries(0):
            assert database_for_entry() == separate
            assert database_for_entry() == separate  # asking changed nothing
        assert database_for_entry() == DEFAULT_DB_ALIAS
