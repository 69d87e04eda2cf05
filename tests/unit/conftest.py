"""The fast set: these tests must not reach PostgreSQL, the lab or a browser.

A test here that asks for a database (any fixture built on ``pg_server_dsn``) or the lab fails
with the reason, instead of quietly starting an embedded PostgreSQL and slowing the set down.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def pg_server_dsn() -> str:
    pytest.fail("tests/unit runs without PostgreSQL: a test that needs a database goes in tests/db")


@pytest.fixture(scope="session")
def lab_reason() -> str | None:
    pytest.fail("tests/unit runs without the Asterisk lab: a lab test goes in tests/lab")
