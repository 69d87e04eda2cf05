"""Under CALLBACK_DESK_CI=1 every skip is a failure (tests/conftest.py), so a change in what CI
provisions (Chromium, openssl, pg_dump, MariaDB, the lab) cannot hide a test; elsewhere a missing
tool is a skip with its reason. Checked on a small suite of its own, run by pytester."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

KINDS = """
    import pytest

    from tests.conftest import unavailable

    def test_skipped_in_its_body():
        pytest.skip("Chromium is not installed")

    @pytest.mark.skipif(True, reason="openssl is not installed")
    def test_skipped_by_a_marker():
        pass

    @pytest.fixture
    def pg_dump():
        pytest.skip("no pg_dump for this server")

    def test_skipped_by_a_fixture(pg_dump):
        pass

    def test_a_missing_lab():
        unavailable("LAB", "the lab is not running")

    @pytest.mark.xfail(reason="a known bug", strict=True)
    def test_an_expected_failure():
        assert False

    def test_passes():
        pass
"""
MODULE = """
    import pytest

    pytest.skip("this module needs MariaDB", allow_module_level=True)
"""
REASONS = ("Chromium", "openssl", "pg_dump", "the lab is not running", "MariaDB")


def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for name in ("CALLBACK_DESK_CI", "CALLBACK_DESK_REQUIRE_LAB", "CALLBACK_DESK_REQUIRE_MARIADB"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(test_kinds=KINDS, test_module=MODULE)
    result = pytester.runpytest_inprocess(
        "-p", "tests.conftest", "--continue-on-collection-errors", "-rfEsx",
        # Plugins the small suite does not need (hypothesis's costs a second per run).
        "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:anyio",
        "-o", "asyncio_default_fixture_loop_scope=function",
    )  # fmt: skip
    return str(result.stdout)


def test_without_ci_a_missing_tool_is_a_skip_with_its_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = run(pytester, monkeypatch)
    assert "1 passed, 5 skipped, 1 xfailed" in out.splitlines()[-1], out
    assert all(reason in out for reason in REASONS), out


def test_under_ci_every_skip_fails_and_says_why(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = run(pytester, monkeypatch, CALLBACK_DESK_CI="1")
    # A skip in the test fails it; one in its set-up (a skipif marker, a fixture) or in the
    # module's import makes it an error: each fails the run.
    summary = out.splitlines()[-1]
    assert "2 failed, 1 passed, 1 xfailed, 3 errors" in summary and "skipped" not in summary, out
    assert all(reason in out for reason in REASONS), out


def test_require_lab_alone_fails_only_a_missing_lab(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = run(pytester, monkeypatch, CALLBACK_DESK_REQUIRE_LAB="1")
    assert "1 failed, 1 passed, 4 skipped, 1 xfailed" in out.splitlines()[-1], out
