"""callback_desk.core.overlap: the classic AGI's login and the report's number rules."""

from __future__ import annotations

import sys
import threading

import pytest

from callback_desk.core.overlap import SWITCH_INTERVAL, Overlapped


def test_the_result_is_the_works_and_the_interval_is_short_only_while_it_runs() -> None:
    before = sys.getswitchinterval()
    release = threading.Event()
    seen: list[float] = []

    def work() -> str:
        release.wait(10)
        seen.append(sys.getswitchinterval())
        return "done"

    overlapped = Overlapped(work, name="test-work", daemon=True)
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL)
    release.set()
    assert overlapped.result() == "done"
    assert seen == [pytest.approx(SWITCH_INTERVAL)]
    assert sys.getswitchinterval() == pytest.approx(before)


def test_what_the_work_raised_is_raised_by_result_and_the_interval_put_back() -> None:
    before = sys.getswitchinterval()

    def work() -> None:
        raise OSError("connection refused")

    overlapped = Overlapped(work, name="test-fail", daemon=True)
    with pytest.raises(OSError, match="connection refused"):
        overlapped.result()
    assert sys.getswitchinterval() == pytest.approx(before)
