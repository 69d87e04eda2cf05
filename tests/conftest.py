"""Shared fixtures: a real PostgreSQL per test (template database), the lab, and loop hygiene.

The tests are grouped by what they need: ``tests/unit`` nothing but Python (the fast set,
``pytest tests/unit``), ``tests/db`` a real PostgreSQL (and MariaDB), ``tests/lab`` the real
Asterisk lab, ``tests/browser`` Debian's Chromium.

PostgreSQL: ``CALLBACK_DESK_TEST_DSN`` when set (CI points it at the machine's server); otherwise
an embedded throwaway server from pgserver, so ``pytest`` passes on a fresh machine. The schema is
migrated once into a template database; each test gets ``CREATE DATABASE ... TEMPLATE``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from callback_desk.core import migrate, roles
from callback_desk.core.store import Store
from fakes.ami_server import FakeAmi
from fakes.settings import make_settings


def _with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


@pytest.fixture(scope="session")
def pg_server_dsn() -> Iterator[str]:
    """A DSN for a database we may CREATE DATABASE from."""
    dsn = os.environ.get("CALLBACK_DESK_TEST_DSN")
    if dsn:
        yield dsn
        return
    with warnings.catch_warnings():
        # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (CI, root shells).
        warnings.simplefilter("ignore")
        import pgserver

    with tempfile.TemporaryDirectory(prefix="callback-desk-pg-") as data:
        server = pgserver.get_server(Path(data), cleanup_mode="stop")  # type: ignore[attr-defined]
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


async def _admin(dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def template_db(pg_server_dsn: str) -> Iterator[str]:
    name = f"cbd_template_{uuid.uuid4().hex[:8]}"

    async def build() -> None:
        await _admin(pg_server_dsn, f'CREATE DATABASE "{name}"')
        conn = await asyncpg.connect(_with_database(pg_server_dsn, name))
        try:
            # The component roles first (cluster-wide, idempotent): migrate then grants them.
            await roles.create_roles(conn)
            await migrate.migrate(conn)
        finally:
            await conn.close()

    asyncio.run(build())
    yield name
    asyncio.run(_admin(pg_server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def as_role(dsn: str, role: str) -> str:
    """``dsn`` acting as ``role`` (asyncpg sends it as the ``role`` setting: SET ROLE at login)."""
    return f"{dsn}{'&' if '?' in dsn else '?'}role={role}"


@pytest.fixture
def db_dsn(owner_dsn: str, request: pytest.FixtureRequest) -> str:
    """The test's database as the component under test sees it.

    A module marked ``pytestmark = pytest.mark.db_role("cbd_desk")`` gets that role's rights
    only (sql/grants.sql), so a query its component needs but was not granted fails the test;
    set-up goes through ``store``/``owner_dsn``, which keep the owner's rights.
    """
    marker = request.node.get_closest_marker("db_role")
    return as_role(owner_dsn, marker.args[0]) if marker else owner_dsn


@pytest.fixture
async def owner_dsn(pg_server_dsn: str, template_db: str) -> AsyncIterator[str]:
    """A fresh, migrated database for this test, as its owner."""
    name = f"cbd_test_{uuid.uuid4().hex[:10]}"
    await _admin(pg_server_dsn, f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    try:
        yield _with_database(pg_server_dsn, name)
    finally:
        await _admin(pg_server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def empty_db_dsn(pg_server_dsn: str) -> AsyncIterator[str]:
    """A fresh database with no schema at all (for migration tests)."""
    name = f"cbd_empty_{uuid.uuid4().hex[:10]}"
    await _admin(pg_server_dsn, f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(pg_server_dsn, name)
    finally:
        await _admin(pg_server_dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def ami() -> AsyncIterator[FakeAmi]:
    """A strict fake AMI server; the test fails if anything sent it an unscripted action."""
    fake = await FakeAmi().start()
    try:
        yield fake
    finally:
        await fake.close()
    assert not fake.unexpected, f"unscripted AMI actions: {fake.unexpected}"


@pytest.fixture
async def store(owner_dsn: str) -> AsyncIterator[Store]:
    """The test's database with the owner's rights (set-up and checks)."""
    s = await Store.open(make_settings(owner_dsn).database)
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def component_store(db_dsn: str, request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """The test's database with the rights of the module's ``db_role`` (see ``db_dsn``)."""
    s = await Store.open(make_settings(db_dsn).database)
    try:
        marker = request.node.get_closest_marker("db_role")
        if marker:  # the role really is in force, not the owner's rights under another name
            assert await s.pool.fetchval("SELECT current_user") == marker.args[0]
        yield s
    finally:
        await s.close()


# Whatever reaches an event loop's exception handler (a task that died unobserved, a callback
# that raised) is collected here and fails the test that was running. The loops come from
# pytest-asyncio's loop-factory hook, not from a patched global event-loop policy (the policy
# API is deprecated from Python 3.14).
_loop_errors: list[dict[str, Any]] = []


def _new_loop() -> asyncio.AbstractEventLoop:
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda _loop, context: _loop_errors.append(context))
    return loop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    return {"asyncio": _new_loop}


@pytest.fixture(autouse=True)
def _fail_on_loop_errors() -> Iterator[None]:
    """Anything that reaches the loop's exception handler fails the test."""
    _loop_errors.clear()
    yield
    errors = list(_loop_errors)
    _loop_errors.clear()
    assert not errors, f"unobserved loop errors: {errors}"


@pytest.fixture(autouse=True)
def _logger_levels() -> Iterator[None]:
    """Commands run in-process (``install`` quiets ``callback_desk.core``) leave no level behind.

    A level set by one test made a later test's INFO lines (the listener's ``ami_login``) vanish.
    """
    manager = logging.Logger.manager
    before = {
        name: logger.level
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    yield
    for name, logger in list(manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            logger.setLevel(before.get(name, logging.NOTSET))


# -- skips: a failure under CI ------------------------------------------------------------------


# CALLBACK_DESK_CI=1 (.ci/run sets it): every skip is a failure, so a provisioning change
# (Chromium, openssl, pg_dump, MariaDB, the lab...) cannot hide a test. Elsewhere a test whose
# tool or server is missing is skipped, with the reason.
def under_ci() -> bool:
    return os.environ.get("CALLBACK_DESK_CI") == "1"


def required(what: str) -> bool:
    """Whether ``what`` (``LAB``, ``MARIADB``) must be there: under CI, or when
    ``CALLBACK_DESK_REQUIRE_<what>=1`` asks for it alone."""
    return under_ci() or os.environ.get(f"CALLBACK_DESK_REQUIRE_{what}") == "1"


def unavailable(what: str, reason: str) -> NoReturn:
    """Skip for ``reason``, or fail when ``what`` is :func:`required`."""
    if required(what):
        pytest.fail(f"{reason} (required: CALLBACK_DESK_CI=1 or CALLBACK_DESK_REQUIRE_{what}=1)")
    pytest.skip(reason)


def _as_failure(report: pytest.TestReport | pytest.CollectReport) -> None:
    if isinstance(report.longrepr, tuple):  # (path, line, "Skipped: reason")
        reason = report.longrepr[2]
    else:
        reason = str(report.longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped under CALLBACK_DESK_CI=1, where every skip fails: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    # An expected failure (xfail, strict in pyproject.toml) is reported as skipped: not a skip.
    if report.skipped and not hasattr(report, "wasxfail") and under_ci():
        _as_failure(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    report = yield
    if report.skipped and under_ci():  # a module that skipped itself while being imported
        _as_failure(report)
    return report


# -- the real Asterisk lab (tests/lab/labctl up) ------------------------------------------------


@pytest.fixture(scope="session")
def lab_reason() -> str | None:
    """Why the lab cannot be used (None when all three Asterisk instances answer)."""
    from tests.lab.lab import lab_available

    return asyncio.run(lab_available())


@pytest.fixture
async def lab(lab_reason: str | None) -> AsyncIterator[Any]:
    """A connected :class:`tests.lab.lab.Lab`, idle and with default behaviours."""
    if lab_reason:
        unavailable("LAB", lab_reason)
    from tests.lab.lab import Lab

    connected = await Lab.connect()
    try:
        await connected.wait_pbx_idle(30)
        await connected.reset_behaviours()
        yield connected
        await connected.wait_pbx_idle(60)
    finally:
        await connected.close()


# The suite's folders are its kinds (tests/unit, tests/db, tests/lab, tests/browser); each test
# carries its folder's marker, so `-m "not lab"` or `-m unit` select across a mixed run.
KINDS = ("unit", "db", "lab", "browser")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).parent
    for item in items:
        kind = item.path.relative_to(tests).parts[0] if item.path.is_relative_to(tests) else ""
        if kind in KINDS:
            item.add_marker(kind)
        # A test elsewhere that uses the lab carries the marker too.
        if "lab" in getattr(item, "fixturenames", ()) and kind != "lab":
            item.add_marker(pytest.mark.lab)
