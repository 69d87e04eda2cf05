"""What the desk phone says, in words: the menu's prompt sequence rendered with the stock
prompts' own transcripts (Asterisk's core-sounds-en.txt), asserted as whole sentences.

The transcripts are the lines of the package's file that the menu uses
(callback_desk/demo/data/core-sounds-en.txt); where the lab's root is present they are compared
with the installed package, and every file the menu can play must exist there as a sound.
"""

from __future__ import annotations

import gzip
import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agi.prompts import DEFAULTS, WHEN_OLDER, WHEN_RECENT, WHEN_THIS_WEEK, ordinal
from callback_desk.demo.speech import (
    UnknownPrompt,
    datetime_files,
    digit_files,
    number_files,
    parse_transcripts,
    said,
    transcripts,
    words,
)

NY = ZoneInfo("America/New_York")
LAB_ROOT = Path("/var/cache/callback-desk/lab-root")
PACKAGE_TEXT = LAB_ROOT / "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
# The English prompts of the lab's asterisk-core-sounds-en (its "en" alternative).
SOUNDS = LAB_ROOT / "usr/share/asterisk/sounds/en_US_f_Allison"


def every_file_the_menu_plays() -> set[str]:
    files = {f for step in DEFAULTS.values() for f in step if not f.startswith("{")}
    for n in range(1000):
        files.update(number_files(n))
    for n in range(1, 100):
        files.update(ordinal(n))
    files.update(digit_files("0123456789*#"))
    now = datetime(2026, 12, 7, 9, 0, tzinfo=NY)
    for days in range(0, 400, 1):
        for hour in (0, 9, 12, 23):
            moment = now - timedelta(days=days, hours=9 - hour, minutes=days % 60)
            for fmt in (WHEN_RECENT, WHEN_THIS_WEEK, WHEN_OLDER):
                files.update(datetime_files(moment, fmt, now))
    return files


def test_every_prompt_has_a_transcript() -> None:
    missing = every_file_the_menu_plays() - set(transcripts())
    assert not missing


def test_the_transcripts_are_the_packages_and_every_prompt_is_installed() -> None:
    if not PACKAGE_TEXT.exists():
        if os.environ.get("CALLBACK_DESK_REQUIRE_LAB") == "1":
            pytest.fail(f"the lab's root has no {PACKAGE_TEXT.name} (tests/lab/labctl build)")
        pytest.skip("no lab root: the committed transcripts are not compared with the package")
    package = parse_transcripts(gzip.open(PACKAGE_TEXT, "rt", encoding="utf-8").read())
    ours = transcripts()
    assert {name: package.get(name) for name in ours} == dict(ours)
    installed = {
        str(p.relative_to(SOUNDS).with_suffix("")) for p in SOUNDS.rglob("*") if p.is_file()
    }
    assert not every_file_the_menu_plays() - installed
    # A transcript is no proof of a file: this one is listed but not shipped.
    assert "pls-try-call-later" in package and "pls-try-call-later" not in installed


def test_a_prompt_without_a_transcript_is_refused() -> None:
    with pytest.raises(UnknownPrompt):
        words(["queue-callers-waiting"])


@pytest.mark.parametrize(
    ("moment", "fmt", "spoken"),
    [
        ("2026-12-07T08:05", WHEN_RECENT, "today at eight oh five A.M."),
        ("2026-12-06T12:00", WHEN_RECENT, "yesterday at twelve o'clock P.M."),
        ("2026-12-04T09:52", WHEN_THIS_WEEK, "Friday at nine fifty two A.M."),
        ("2026-11-23T15:30", WHEN_OLDER, "November twenty third at three thirty P.M."),
    ],
)
def test_when_is_said_as_asterisk_says_it(moment: str, fmt: str, spoken: str) -> None:
    now = datetime(2026, 12, 7, 9, 0, tzinfo=NY)
    at = datetime.fromisoformat(moment).replace(tzinfo=NY)
    assert said("SAY DATETIME", [str(int(at.timestamp())), "", fmt, NY.key], now) == spoken


def test_no_default_sentence_uses_the_words_the_issue_found_wrong() -> None:
    # "You have 4 messages" (nobody left one), "with 2" (dangling), "You are currently caller
    # number" (queue-thereare), "No more messages" (vm-nomore).
    files = {f for step in DEFAULTS.values() for f in step}
    assert not files & {"with", "vm-messages", "queue-thereare", "vm-nomore"}
    text = " ".join(words([f]) for f in files if f[0] != "{")
    assert not re.search(r"\bmessages\b|caller number", text)
