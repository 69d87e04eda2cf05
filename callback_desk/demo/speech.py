"""What Asterisk says, as words: AGI speech commands turned into the stock prompts' transcripts.

Asterisk plays files; each file of the stock English set has a transcript in the package's
``core-sounds-en.txt`` (the lines this program uses are in ``data/core-sounds-en.txt``, with
their source). SAY NUMBER, SAY DIGITS and SAY DATETIME are expanded into files the way
Asterisk's English ``main/say.c`` does (``get_number_str_en``, ``ast_get_digit_str``,
``ast_say_enumeration_full_en``, ``ast_say_date_with_format_en``), then into words. Used by the
demo's text phone and by the tests that assert the desk-phone menu's sentences.

Strict: a file without a transcript raises :class:`UnknownPrompt` (a prompt Asterisk would not
find, or one this table was not told about).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from zoneinfo import ZoneInfo

_SHOWN = re.compile(r"\s*\[[^\]]*\]$")


class UnknownPrompt(LookupError):
    """A sound file that is not in the stock English set's transcripts."""


@lru_cache(maxsize=1)
def transcripts() -> Mapping[str, str]:
    """File name -> transcript, from ``data/core-sounds-en.txt``."""
    text = resources.files("callback_desk.demo").joinpath("data", "core-sounds-en.txt")
    return MappingProxyType(parse_transcripts(text.read_text("utf-8")))


def parse_transcripts(text: str) -> dict[str, str]:
    """``name: words`` lines of a core-sounds-en.txt; ``;`` lines are comments."""
    table = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith(";"):
            name, _sep, words = line.partition(":")
            table[name.strip()] = words.strip()
    return table


def number_files(n: int) -> list[str]:
    """SAY NUMBER in English (say.c ``get_number_str_en``; no "and")."""
    if n == 0:
        return ["digits/0"]
    if n < 0:
        return ["digits/minus", *number_files(-n)]
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            rest = number_files(n % size) if n % size else []
            return [*number_files(n // size), f"digits/{name}", *rest]
    files = []
    if n >= 100:
        files += [f"digits/{n // 100}", "digits/hundred"]
        n %= 100
    if n >= 20:
        files.append(f"digits/{n // 10 * 10}")
        n %= 10
    if n:
        files.append(f"digits/{n}")
    return files


def digit_files(digits: str) -> list[str]:
    """SAY DIGITS (say.c ``ast_get_digit_str``): other characters are skipped."""
    names = {"*": "digits/star", "#": "digits/pound", "-": "digits/minus"}
    return [names.get(ch, f"digits/{ch}") for ch in digits if ch in names or ch.isdigit()]


def enumeration_files(n: int) -> list[str]:
    """An ordinal, below 100 (say.c ``ast_say_enumeration_full_en``)."""
    if n < 20:
        return [f"digits/h-{n}"]
    tens, units = divmod(n, 10)
    return [f"digits/h-{n}"] if not units else [f"digits/{tens * 10}", f"digits/h-{units}"]


def datetime_files(moment: datetime, fmt: str, now: datetime) -> list[str]:
    """SAY DATETIME in English (say.c ``ast_say_date_with_format_en``) for the letters the
    menu uses; ``moment`` and ``now`` in the zone the command named."""
    files: list[str] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "'":
            end = fmt.index("'", i + 1)
            files.append(fmt[i + 1 : end])
            i = end
        elif ch in "Aa":
            files.append(f"digits/day-{(moment.weekday() + 1) % 7}")
        elif ch in "Bbh":
            files.append(f"digits/mon-{moment.month - 1}")
        elif ch in "de":
            files += enumeration_files(moment.day)
        elif ch in "Il":
            files.append(f"digits/{(moment.hour % 12) or 12}")
        elif ch == "M":
            if moment.minute == 0:
                files.append("digits/oclock")
            elif moment.minute < 10:
                files += ["digits/oh", f"digits/{moment.minute}"]
            else:
                files += number_files(moment.minute)
        elif ch in "Pp":
            files.append("digits/p-m" if moment.hour > 11 else "digits/a-m")
        elif ch == "Y":
            files += number_files(moment.year)
        elif ch == "Q":
            files += _relative_day(moment, now)
        elif ch not in " \t":
            raise ValueError(f"SAY DATETIME format letter {ch!r} is not rendered here")
        i += 1
    return files


def _relative_day(moment: datetime, now: datetime) -> list[str]:
    """Q: today, yesterday, the weekday within a week, else the date (say.c, its bounds)."""
    day = 86400
    start = now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    t = moment.timestamp()
    for bound, fmt in (
        (start + 15768000, "BdY"),
        (start + 2628000, "Bd"),
        (start + day * 6, "ABd"),
        (start + day * 2, "A"),
        (start + day, "'digits/tomorrow'"),
        (start, "'digits/today'"),
        (start - day, "'digits/yesterday'"),
        (start - day * 6, "A"),
        (start - 2628000, "ABd"),
        (start - 15768000, "Bd"),
    ):
        if bound < t:
            return datetime_files(moment, fmt, now)
    return datetime_files(moment, "BdY", now)


def words(files: Iterable[str], table: Mapping[str, str] | None = None) -> str:
    """The transcripts of ``files``, one after the other, as one line of text. The "..." by
    which a transcript says it continues (or continues another) is left out."""
    table = transcripts() if table is None else table
    said = []
    for name in files:
        if name not in table:
            raise UnknownPrompt(name)
        text = table[name].removeprefix("...").removesuffix("...").strip()
        # "plus [+]": the bracket shows the character a letters/ prompt names.
        said.append(_SHOWN.sub("", text) or text)
    return " ".join(said)


def datetime_said(seconds: int, fmt: str, zone: str, now: datetime) -> list[str]:
    """The files SAY DATETIME <seconds> <digits> <fmt> <zone> plays, ``now`` being Asterisk's
    clock (Q compares with it)."""
    tz = ZoneInfo(zone) if zone else ZoneInfo("UTC")
    return datetime_files(datetime.fromtimestamp(seconds, tz), fmt, now.astimezone(tz))


def said(command: str, args: list[str], now: datetime) -> str:
    """The words an AGI speech command makes Asterisk say (STREAM FILE, SAY NUMBER, SAY DIGITS,
    SAY DATETIME, with res_agi's arguments), ``now`` being Asterisk's clock."""
    if command == "STREAM FILE":
        return words([args[0]])
    if command == "SAY NUMBER":
        return words(number_files(int(args[0])))
    if command == "SAY DIGITS":
        return words(digit_files(args[0]))
    if command == "SAY DATETIME":
        fmt = args[2] if len(args) > 2 else "ABdY 'digits/at' IMp"  # res_agi's default
        return words(datetime_said(int(args[0]), fmt, args[3] if len(args) > 3 else "", now))
    raise ValueError(f"{command} says nothing")
