"""Phone numbers: one comparable key per caller, a verdict on callability, and masking for logs.

Caller ID is attacker-controlled. The raw value is stored verbatim (as a bound parameter) for the
record; everything that compares or dials uses :func:`number_key`, which accepts only ASCII digits
with an optional leading ``+`` after removing common formatting characters.
"""

from __future__ import annotations

import os
import re
import sys
from functools import lru_cache

from callback_desk.core.typeshim import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

# What PBXes and carriers put in CallerIDNum when the caller withheld their number.
_WITHHELD = frozenset(
    {
        "",
        "anonymous",
        "unknown",
        "<unknown>",
        "restricted",
        "private",
        "unavailable",
        "withheld",
        "blocked",
        "s",
    }
)
_FORMATTING = re.compile(r"[\s().\-/]")
_DIGITS = re.compile(r"\+?[0-9]{2,20}")
_NOT_DIGITS = re.compile(r"[^0-9]+")


def is_withheld(raw: str) -> bool:
    return raw.strip().lower() in _WITHHELD


def number_key(raw: str, country: str) -> str | None:
    """The form used to compare numbers: E.164 when the number parses, else its plain digits.

    ``2125550123`` and ``+12125550123`` give the same key in the US; ``None`` means the value is
    not a phone number at all (withheld, a SIP URI, letters...).
    """
    return _read(raw, country)[0]


def is_callable(raw: str, country: str) -> bool:
    """True when the number could be dialled back: not withheld and a possible phone number."""
    return _read(raw, country)[1]


@lru_cache(maxsize=4096)
def _read(raw: str, country: str) -> tuple[str | None, bool]:
    """(number_key, is_callable) from one parse: the listener asks both of every caller, and
    parsing is most of its cost per call. Callable means the key is the E.164 form of a
    possible number."""
    if _DIGITS.fullmatch(raw) and not raw.startswith("00"):
        compact = raw  # as callers come (no formatting, not withheld): nothing to remove
    else:
        if is_withheld(raw):
            return None, False
        compact = _FORMATTING.sub("", raw.strip())
        if compact.startswith("00") and len(compact) > 4:
            compact = "+" + compact[2:]
        if not _DIGITS.fullmatch(compact):
            return None, False
    direct = _direct_parts(compact)
    if direct is not None:
        # What parse() would have made of it (parse_key says why), and its E.164 form is the
        # text itself: no leading zero, so the national number's digits are the ones we hold.
        # parse() was a tenth of the listener's work per call on a stream of distinct callers.
        code, national = direct
        return compact, _possible(code, len(national))
    return _parsed(compact, country)


@lru_cache(maxsize=1024)
def _possible(code: int, length: int) -> bool:
    """phonenumbers.is_possible_number() of a number with this calling code whose national
    number has ``length`` digits and no leading zero: that function reads nothing else (it
    compares the length with the region's possible lengths), so the answer is kept per code
    and length rather than worked out per caller (tests/unit/test_phone.py compares with
    parse())."""
    import phonenumbers  # lazy (supported_regions says why)

    return bool(
        phonenumbers.is_possible_number(
            phonenumbers.PhoneNumber(country_code=code, national_number=int("1" * length))
        )
    )


def _parsed(compact: str, country: str) -> tuple[str | None, bool]:
    """:func:`_read` through phonenumbers.parse (national forms, and what _direct leaves)."""
    import phonenumbers  # lazy: see supported_regions

    try:
        parsed = phonenumbers.parse(compact, country)
    except phonenumbers.NumberParseException:
        return compact, False
    if phonenumbers.is_possible_number(parsed):
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164), True
    return compact, False


@lru_cache(maxsize=4096)
def national_format(key: str | None, raw: str, country: str) -> str:
    """The number as people in the practice's country write it; the raw value when unparseable.
    Kept for the callers seen last: the inbox draws the same page again at every live update."""
    if key and key.startswith("+"):
        import phonenumbers  # lazy (supported_regions says why)

        try:
            parsed = parse_key(key)
        except phonenumbers.NumberParseException:
            return key
        # is_valid_number_for_region tests one region; region_code_for_number would test every
        # region sharing the calling code (25 for +1): 65 µs a number, a second per 15,000.
        fmt = (
            phonenumbers.PhoneNumberFormat.NATIONAL
            if phonenumbers.is_valid_number_for_region(parsed, country)
            else phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
        return phonenumbers.format_number(parsed, fmt)
    return key or raw


_KEY = re.compile(r"\+[1-9][0-9]{2,19}")


def parse_key(key: str) -> Any:
    """``phonenumbers.parse(key, None)`` of a number key in E.164 form, the same PhoneNumber,
    made directly where parse() could do nothing else: the country code is the first of one to
    three digits phonenumbers knows, and the rest is a national number of a possible length
    with no leading zero that does not start with the region's national prefix. parse() itself
    for anything else. A report of every line formats tens of thousands of numbers, and parse's
    generality (free text, extensions, prefixes to strip) was half of the cost of each
    (tests/unit/test_phone.py compares the two over every region's example numbers)."""
    direct = _direct(key)
    if direct is not None:
        return direct
    import phonenumbers  # lazy (supported_regions says why)

    return phonenumbers.parse(key, None)


def _direct(key: str) -> Any:
    """The PhoneNumber of :func:`parse_key`'s direct path, or None where parse() must run."""
    parts = _direct_parts(key)
    if parts is None:
        return None
    import phonenumbers  # lazy (supported_regions says why)

    code, national = parts
    return phonenumbers.PhoneNumber(country_code=code, national_number=int(national))


def _direct_parts(key: str) -> tuple[int, str] | None:
    """(calling code, national number) of :func:`_direct`'s number, or None."""
    if not _KEY.fullmatch(key):
        return None
    digits = key[1:]
    for length in (1, 2, 3):
        code = int(digits[:length])
        known, prefix = _calling_code(code)
        if known:
            national = digits[length:]
            if (
                prefix is not None
                and 2 <= len(national) <= 17
                and national[0] != "0"
                and not prefix.match(national)
            ):
                return code, national
            return None
    return None


@lru_cache(maxsize=1024)
def _calling_code(code: int) -> tuple[bool, re.Pattern[str] | None]:
    """(a calling code phonenumbers knows, its national prefix for parsing, compiled: one that
    never matches when it has none; None when it has no metadata): looked up once per code, not
    once per number (the per-number lookups were most of parse_key's cost)."""
    import phonenumbers  # lazy (supported_regions says why)

    if code not in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        return False, None
    metadata = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
        code, phonenumbers.region_code_for_country_code(code)
    )
    if metadata is None:
        return True, None
    prefix = metadata.national_prefix_for_parsing
    return True, re.compile(prefix) if prefix else re.compile("(?!)")


@lru_cache(maxsize=1)
def supported_regions() -> frozenset[str]:
    """The ISO 3166 codes phonenumbers knows, without importing it.

    Importing phonenumbers is a good part of the classic AGI's start (Asterisk starts one
    process per session, and its first prompt, the count of callers, needs no number rules);
    settings only need the list of regions, which is phonenumbers' data package: one
    ``region_<XX>.py`` per region. Falls back to the import if that layout ever changes
    (tests/unit/test_phone.py compares the two).
    """
    # sys.path and os.listdir rather than importlib.util.find_spec and Path.glob: ~3 ms less of
    # the classic AGI's start, for the same directory.
    for entry in sys.path:
        try:
            files = os.listdir(os.path.join(entry or ".", "phonenumbers", "data"))
        except OSError:
            continue
        regions = frozenset(
            name[7:9]
            for name in files
            if len(name) == 12
            and name.startswith("region_")
            and name.endswith(".py")
            and name[7:9].isascii()
            and name[7:9].isalpha()
            and name[7:9].isupper()
        )
        if regions:
            return regions
    import phonenumbers  # lazy (see above)

    return frozenset(phonenumbers.SUPPORTED_REGIONS)


def mask(raw: str | None) -> str:
    """A number safe for logs: only the last two digits survive (``•••••23``)."""
    if not raw:
        return "<none>"
    digits = _NOT_DIGITS.sub("", raw)  # ASCII digits only (one line per missed call: cheap)
    if len(digits) < 4:
        return "•" * max(len(raw), 1)
    return "•" * (len(digits) - 2) + digits[-2:]
