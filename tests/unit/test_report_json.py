"""The report's JSON as text: each entry and each time written directly, as json.dumps and
isoformat would write them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from callback_desk.core.shown import number_of
from callback_desk.report.model import ReportCaller, e164
from callback_desk.report.render_json import entry, iso, missed_json

ZONES = [
    ZoneInfo(name)
    for name in (
        "UTC",
        "America/New_York",
        "Europe/Paris",
        "Asia/Kolkata",
        "America/St_Johns",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
        "Africa/Monrovia",  # -00:44:30 until 1972: an offset with seconds
        "America/Sao_Paulo",
    )
]

moments = st.datetimes(
    min_value=datetime(1900, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.just(UTC),
)


@settings(max_examples=500)
@given(moment=moments, tz=st.sampled_from(ZONES))
@example(moment=datetime(1960, 6, 1, 12, 0, 0, 999_999, tzinfo=UTC), tz=ZONES[7])
@example(moment=datetime(2026, 3, 8, 7, 0, tzinfo=UTC), tz=ZONES[1])  # New York springs ahead
@example(moment=datetime(2026, 11, 1, 5, 59, 59, 999_999, tzinfo=UTC), tz=ZONES[1])
def test_iso_is_isoformat_to_the_second(moment: datetime, tz: ZoneInfo) -> None:
    assert iso(moment, tz) == moment.astimezone(tz).isoformat(timespec="seconds")


def _as_dict(c: ReportCaller, tz: ZoneInfo, country: str | None) -> dict[str, Any]:
    """The entry as the report wrote it as a dict for json.dumps (before it wrote text)."""

    def optional(moment: datetime | None) -> str | None:
        return None if moment is None else moment.astimezone(tz).isoformat(timespec="seconds")

    return {
        "number": c.number_key if c.callable and c.number_key else c.number,
        "number_as_received": c.number,
        "name": c.name,
        "calls": c.calls,
        "first_at": optional(c.first_at),
        "last_at": optional(c.last_at),
        "reached_voicemail": c.reached_voicemail,
        "did": c.did,
        "reason": c.reason,
        "callable": c.callable,
        "last_call_id": c.last_call_id,
        "number_e164": e164(c),
        "number_national": number_of(c, country) if country else None,
        "rang": list(c.rang),
        "extensions": list(c.extensions),
        "new_calls": c.new_calls,
        "attempts": c.attempts,
        "last_attempt_at": optional(c.last_attempt_at),
        "status": "awaiting" if c.awaiting else "returned",
        "returned_at": optional(c.returned_at),
        "returned_how": c.returned_how,
    }


# Caller ID is anyone's text: quotes, backslashes, controls, bidi overrides, astral characters.
texts = st.text(st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ['O\'Brien "x" \\', "\x00\x1b[2J\u2028\u202e", "日本", "+12125550123", ""]
)
numbers = st.sampled_from(["2125550123", "+12125550123", "anonymous", "+442079460123", "x"])
keys = st.sampled_from([None, "+12125550123", "+442079460123", "+12000000007", "12345"])
counts = st.integers(min_value=0, max_value=10**12)

callers = st.builds(
    ReportCaller,
    number=numbers | texts,
    number_key=keys,
    name=texts,
    calls=counts,
    first_at=moments,
    last_at=moments,
    reached_voicemail=st.booleans(),
    did=texts,
    reason=texts,
    last_call_id=counts,
    callable=st.booleans(),
    rang=st.lists(texts, max_size=3).map(tuple),
    extensions=st.lists(texts, max_size=3).map(tuple),
    attempts=counts,
    last_attempt_at=st.none() | moments,
    new_calls=counts,
    returned_at=st.none() | moments,
    returned_how=st.none() | texts,
)


@settings(max_examples=300)
@given(caller=callers, tz=st.sampled_from(ZONES), country=st.sampled_from([None, "US", "GB"]))
def test_an_entry_is_what_json_dumps_writes_for_it(
    caller: ReportCaller, tz: ZoneInfo, country: str | None
) -> None:
    expected = json.dumps(_as_dict(caller, tz, country), ensure_ascii=False)
    assert entry(caller, tz, country) == expected
    assert missed_json([caller], tz, country) == {"missed": [json.loads(expected)]}


def test_the_report_lists_times_of_every_offset() -> None:
    # Sanity beside the property: one hour either side of a change of offset.
    tz = ZoneInfo("Europe/Paris")
    start = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    for minutes in range(0, 180, 7):
        moment = start + timedelta(minutes=minutes, seconds=minutes)
        assert iso(moment, tz) == moment.astimezone(tz).isoformat(timespec="seconds")
