"""The listener's line per decided call: every missed call is accounted for at INFO, one line
each up to LISTED_PER_SECOND a second and counted beyond, and no number is logged unmasked."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from ami_listener.listener import LISTED_PER_SECOND, Listener
from callback_desk.core.model import CallRecord, Outcome, Reason
from fakes.settings import make_settings
from tests.report_support import call

AT = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class NoSink:
    async def record_calls(self, pbx: str, calls: Sequence[CallRecord]) -> int:
        raise AssertionError("nothing is written in these tests")


def missed(n: int) -> CallRecord:
    return call(f"300.{n}", AT, f"21255501{n:02d}")


def decided(records: list[CallRecord], caplog: pytest.LogCaptureFixture) -> tuple[int, int]:
    """Queue ``records`` as one consumer batch; (calls listed one per line, calls counted)."""
    listener = Listener(make_settings(pbx={"name": "lab"}), NoSink())
    listener._queue_writes(records)
    lines = [r for r in caplog.records if r.levelno == logging.INFO]
    listed = sum(getattr(r, "action", "") == "call_decided" for r in lines)
    counted = 0
    for r in lines:
        if getattr(r, "action", "") == "calls_decided":
            assert isinstance(r.args, tuple) and isinstance(r.args[0], int)
            counted += r.args[0]
    assert len(listener._decided) == len(records), "a call not logged is still queued"
    return listed, counted


def test_a_few_missed_calls_get_a_line_each(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    assert decided([missed(n) for n in range(3)], caplog) == (3, 0)
    assert "••••••••01" in caplog.text and "2125550101" not in caplog.text


def test_a_burst_is_listed_up_to_the_budget_and_counted_beyond(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    calls = [missed(n) for n in range(LISTED_PER_SECOND + 7)]
    calls.insert(5, replace(missed(99), outcome=Outcome.ANSWERED, reason=Reason.ANSWERED))
    assert decided(calls, caplog) == (LISTED_PER_SECOND, 7)
    assert "21255501" not in caplog.text


def test_at_debug_every_call_has_its_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    calls = [missed(n) for n in range(LISTED_PER_SECOND + 7)]
    decided(calls, caplog)
    each = [r for r in caplog.records if getattr(r, "action", "") == "call_decided"]
    assert len(each) == len(calls)
