"""Numbers as people read them, kept by the report that first worked them out
(sql/0016_number_forms.sql): the kept forms are the ones worked out from scratch, for the country
and the rules that made them only."""

from __future__ import annotations

import io
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from callback_desk.core import phone
from callback_desk.core.store import Store
from callback_desk.report.command import ReportOptions, run, run_on_screen
from fakes.settings import make_settings
from tests.report_support import call

# The component under test connects with cbd_report's rights only (sql/grants.sql).
pytestmark = pytest.mark.db_role("cbd_report")

NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 24, 8, 0, tzinfo=NY)
# Valid in the US, valid abroad, not valid anywhere (+1 200...), withheld, not a number.
NUMBERS = ("2125550123", "+442079460123", "+33142685300", "2000000007", "anonymous", "12345")


def settings(dsn: str, country: str = "US") -> Any:
    return make_settings(dsn, pbx={"timezone": "America/New_York", "country": country})


async def report(dsn: str, fmt: str = "json", country: str = "US") -> str:
    out = io.StringIO()
    options = ReportOptions(format=fmt)  # type: ignore[arg-type]
    assert await run(settings(dsn, country), options, out, NOW) == 0
    return out.getvalue()


async def kept(owner_dsn: str) -> list[tuple[str, str, str, str]]:
    conn = await asyncpg.connect(owner_dsn)
    try:
        rows = await conn.fetch(
            "SELECT country, rules, number_key, shown FROM number_forms ORDER BY 1, 2, 3"
        )
    finally:
        await conn.close()
    return [tuple(r) for r in rows]


async def owner(owner_dsn: str, sql: str, *args: Any) -> None:
    conn = await asyncpg.connect(owner_dsn)
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


@pytest.fixture
async def night(store: Store, db_dsn: str) -> str:
    for i, number in enumerate(NUMBERS):
        await store.record_call(
            "pbx", call(f"n{i}", datetime(2026, 11, 23, 20, i, tzinfo=NY), number)
        )
    return db_dsn


async def test_the_kept_forms_are_the_forms_worked_out_from_scratch(
    night: str, owner_dsn: str
) -> None:
    assert await kept(owner_dsn) == []
    first = {fmt: await report(night, fmt) for fmt in ("json", "text", "csv", "html")}
    forms = await kept(owner_dsn)
    # Every E.164 key of the night, once, as phonenumbers' rules show it in the US now.
    keys = sorted({k for n in NUMBERS if (k := phone.number_key(n, "US")) and k[0] == "+"})
    assert forms == [("US", phone.rules(), k, phone.national_format(k, k, "US")) for k in keys]
    assert ("US", phone.rules(), "+12125550123", "(212) 555-0123") in forms
    # The next report reads them, and says the same, byte for byte, as the one that made them.
    again = {fmt: await report(night, fmt) for fmt in first}
    assert again == first
    wire = io.StringIO()
    assert run_on_screen(settings(night), ReportOptions(format="json"), wire, NOW) == 0
    assert json.loads(wire.getvalue())["missed"] == json.loads(first["json"])["missed"]


async def test_a_form_is_used_for_its_own_country_and_rules_only(
    night: str, owner_dsn: str
) -> None:
    # The attack: a wrong form kept for another country, and one for other rules (a release of
    # phonenumbers since replaced). Neither may show.
    fresh = await report(night)
    for country, rules in (("FR", phone.rules()), ("US", "0.0.1")):
        await owner(
            owner_dsn,
            "INSERT INTO number_forms VALUES ($1, $2, '+12125550123', '(666) FAKE')",
            country,
            rules,
        )
    assert await report(night) == fresh
    assert "FAKE" not in await report(night, "text")
    # The practice moves to the UK: its numbers show as there, worked out, then kept for GB.
    british = await report(night, "text", country="GB")
    assert "FAKE" not in british and "+1 212-555-0123" in british
    assert "020 7946 0123" in british
    gb = [f for f in await kept(owner_dsn) if f[0] == "GB" and f[1] == phone.rules()]
    assert ("GB", phone.rules(), "+442079460123", "020 7946 0123") in gb


async def test_a_report_that_may_not_keep_them_shows_the_same(night: str, owner_dsn: str) -> None:
    fresh = await report(night, "text")
    await owner(owner_dsn, "DELETE FROM number_forms")
    await owner(owner_dsn, "REVOKE INSERT ON number_forms FROM cbd_report")
    assert await report(night, "text") == fresh
    wire = io.StringIO()  # the command line's own client takes the same way back
    assert run_on_screen(settings(night), ReportOptions(format="text"), wire, NOW) == 0
    assert wire.getvalue() == fresh
    assert await kept(owner_dsn) == []


async def test_a_form_goes_with_the_last_call_of_its_number(
    night: str, owner_dsn: str, store: Store
) -> None:
    # Retention: the purge deletes old calls, then the forms of numbers no call holds any more.
    await report(night)
    recent = datetime.now(NY).replace(microsecond=0)
    await store.record_call("pbx", call("r1", recent, "2125550123"))
    assert len(await kept(owner_dsn)) == 4
    assert await store.purge(datetime(2026, 11, 24, tzinfo=NY)) == len(NUMBERS)
    assert [f[2] for f in await kept(owner_dsn)] == ["+12125550123"]


async def test_a_kept_form_that_does_not_show_its_number_is_not_shown(
    night: str, owner_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    # The attack: cbd_report may add forms, so whoever holds its password plants, for this
    # country and these rules, forms that send a therapist dialling by hand elsewhere: another
    # area code, a foreign caller written as a local number, a digit changed. None may show.
    fresh = {fmt: await report(night, fmt) for fmt in ("json", "text")}
    await owner(owner_dsn, "DELETE FROM number_forms")
    planted = {
        "+12125550123": "(646) 555-0123",
        "+442079460123": "(207) 946-0123",
        "+33142685300": "+33 1 42 68 53 99",
    }
    for key, shown in planted.items():
        await owner(
            owner_dsn,
            "INSERT INTO number_forms VALUES ('US', $1, $2, $3)",
            phone.rules(),
            key,
            shown,
        )
    for fmt, text in fresh.items():
        assert await report(night, fmt) == text
    assert "number_forms_mismatch" in {getattr(r, "action", "") for r in caplog.records}
    text = await report(night, "text")
    assert all(shown not in text for shown in planted.values())


def test_a_form_shows_its_number_only_with_every_digit() -> None:
    assert phone.shows("+12125550123", "(212) 555-0123", "US")
    assert phone.shows("+442079460123", "+44 20 7946 0123", "US")
    assert phone.shows("+442079460123", "020 7946 0123", "GB")
    assert not phone.shows("+442079460123", "2079460123", "US")  # foreign, written as local
    assert not phone.shows("+12125550123", "(212) 555-012", "US")
    assert not phone.shows("+12125550123", "1 (212) 555-0123 9", "US")
    assert not phone.shows("+12125550123", "999 (212) 555-0123", "US")  # more than a prefix
    assert not phone.shows("+1", "", "US")
    assert not phone.shows("+12125550123", "(212) 555-0123", "ZZ")
