"""The desk-phone menu's sentences, as words: a real FastAGI session against a strict fake
Asterisk, its prompt sequence rendered with the stock prompts' transcripts
(callback_desk.demo.speech; the table is checked in tests/unit/test_agi_words.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agi.queries import Callbacks
from callback_desk.core.store import Store
from callback_desk.demo.speech import said
from fakes.agi_peer import AgiPeer, env
from fakes.agi_runner import run_fastagi
from fakes.settings import make_settings
from tests.agi_support import add_missed

# The menu connects with the desk side's rights only (sql/grants.sql).
pytestmark = pytest.mark.db_role("cbd_desk")

NY = ZoneInfo("America/New_York")
COUNT = "There are currently {n} callers waiting to speak with a representative."
OPTIONS = "press 1 to call this number Press 6 to play the next message."


def _minutes_ago(days: int, hour: int, minute: int) -> tuple[float, datetime]:
    now = datetime.now(NY)
    at = (now - timedelta(days=days)).replace(hour=hour, minute=minute, second=0, microsecond=0)
    return (now - at).total_seconds() / 60, at


async def _menu(store: Store, db_dsn: str, keys: list[str]) -> list[str]:
    """The words of one menu session at desk 100, one line per prompt sequence between keys."""
    settings = make_settings(
        db_dsn,
        pbx={"timezone": NY.key, "country": "US"},
        agi={"callback_number": "+12125550100", "digit_timeout": 1.0, "retries": 1},
    )
    peer = AgiPeer(env("menu", "100"), keys=list(keys))
    await run_fastagi(settings, Callbacks(store.pool), peer)
    assert peer.unexpected == []
    now = datetime.now(NY)
    lines: list[str] = []
    current: list[str] = []
    for command in peer.commands:
        if command.name == "WAIT FOR DIGIT":
            lines.append(" ".join(current))
            current = []
        elif command.name in ("STREAM FILE", "SAY NUMBER", "SAY DIGITS", "SAY DATETIME"):
            current.append(said(command.name, command.args, now))
    return [*lines, " ".join(current)]


async def test_the_menu_says_how_many_wait_who_when_how_often_and_the_keys(
    store: Store, db_dsn: str
) -> None:
    ago, at = _minutes_ago(2, 9, 52)
    await add_missed(store, "+12125550103", ago)
    await add_missed(store, "+12125550103", ago + 30)  # called twice
    await add_missed(store, "+12125550102", ago + 60)
    await add_missed(store, "+12125550101", ago + 90)
    day = at.strftime("%A")
    # 2 skips the first, 6 (as 2) the second, 3 marks the third handled; then the end.
    said_lines = await _menu(store, db_dsn, ["2", "6", "3"])
    assert said_lines == [
        COUNT.format(n="three")
        + " Telephone number. two one two five five five zero one zero three"
        + f" received {day} at nine fifty two A.M. for second Time. "
        + OPTIONS,
        "Telephone number. two one two five five five zero one zero two"
        + f" received {day} at eight fifty two A.M. "
        + OPTIONS,
        "Telephone number. two one two five five five zero one zero one"
        + f" received {day} at eight twenty two A.M. "
        + OPTIONS,
        "Removed. " + COUNT.format(n="two") + " Goodbye",
    ]


async def test_one_caller_and_none_are_whole_sentences(store: Store, db_dsn: str) -> None:
    assert await _menu(store, db_dsn, []) == [
        "There are currently no callers waiting to speak with a representative. Goodbye"
    ]
    ago, _at = _minutes_ago(2, 10, 0)
    await add_missed(store, "+442079460123", ago)  # London: "plus", then its country's digits
    first, *_rest = await _menu(store, db_dsn, ["*"])
    assert first.startswith(
        "you have one Call waiting. Telephone number. plus four four two zero seven nine four"
        " six zero one two three received "
    )
