"""Phone numbers: one comparable key per caller, a verdict on callability, and masking for logs.

Caller ID is attacker-controlled. The raw value is stored verbatim (as a bound parameter) for the
record; everything that compares or dials uses :func:`number_key`, which accepts only ASCII digits
with an optional leading ``+`` after removing common formatting characters.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from functools import lru_cache

from callback_desk.core.typeshim import TYPE_CHECKING, NamedTuple

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
        parts = _direct_parts(key)
        if parts is not None:
            shown = _shown(parts[0], parts[1], country)
            if shown is not None:
                return shown
        return _formatted(key, country)
    return key or raw


def shows(key: str, shown: str, country: str) -> bool:
    """Whether ``shown`` writes the number ``key`` (E.164) for people in ``country``: every digit
    after the ``+`` in an international form, or, for a number of the country's own calling
    code, its whole national number after at most a two-digit trunk prefix (the ``0`` of
    ``020 7946 0123``). The report keeps the forms it works out (sql/0016_number_forms.sql) and
    its database role may add to them: a kept form is shown only if it shows the number, so a
    planted one cannot send a therapist who dials by hand to someone else's phone. A national
    form that writes its digits otherwise fails, and is worked out again: slower, never wrong."""
    digits = _NOT_DIGITS.sub("", shown)
    if shown.startswith("+"):
        return digits == key[1:]
    validity = _validity(country)
    if validity is None:
        return False
    code = str(validity[0])
    national = key[1 + len(code) :]
    return (
        key.startswith(code, 1)
        and bool(national)
        and digits.endswith(national)
        and len(digits) - len(national) <= 2
    )


def _formatted(key: str, country: str) -> str:
    """:func:`national_format` of a number key in + form, by phonenumbers itself."""
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


def _shown(code: int, national: str, country: str) -> str | None:
    """:func:`national_format` of a key on :func:`parse_key`'s direct path, from phonenumbers'
    rules compiled once (:func:`_validity`, :func:`_layouts`), or None where phonenumbers must
    run. A report of every line shows tens of thousands of numbers, and the library's
    is_valid_number_for_region and format_number cost ~40 µs each (most of it looking up its
    patterns again per number), more than half of such a report (tests/unit/test_phone.py
    compares the two over every region's example numbers and any digits)."""
    validity = _validity(country)
    layouts = _layouts(code)
    if validity is None or layouts is None:
        return None
    # is_valid_number_for_region: the region's calling code, its general pattern, then a type
    # (fixed line, mobile, toll free, ...) the number fits.
    if code == validity[0]:
        fits = _checks(country, len(national))
        if fits is not None and fits[0].fullmatch(national) and fits[1].fullmatch(national):
            return _laid_out(national, layouts[0])
    return f"+{code} {_laid_out(national, layouts[1])}"


class _Desc(NamedTuple):
    """A phonenumbers PhoneNumberDesc as is_valid_number_for_region reads it."""

    lengths: frozenset[int]  # empty: any length
    # None: nothing fits. Compiled only where a number needs it (_checks): a practice's
    # numbers need a few of a region's patterns, and compiling is most of a first number's cost.
    pattern: str | None


class _Layout(NamedTuple):
    """A phonenumbers NumberFormat as format_number applies it for one format."""

    leading: re.Pattern[str] | None  # None: any leading digits
    pattern: re.Pattern[str]
    # The format's template (``\\1 \\2-\\3``) as re.sub's replacement: a function filling the
    # groups in where the template is only group references and text, the text otherwise.
    # re.sub parses a text template again at every call, most of the cost of a number.
    template: Callable[[re.Match[str]], str] | str


@lru_cache(maxsize=64)
def _checks(country: str, length: int) -> tuple[re.Pattern[str], re.Pattern[str]] | None:
    """(the general pattern, one pattern for every type) that a national number of ``length``
    digits fits in full when it is valid in ``country``; None when none can be. The types' own
    patterns as one alternation: it fits in full where one of them does (they hold no
    back-references or flags, which tests/unit/test_phone.py checks for every region)."""
    validity = _validity(country)
    assert validity is not None  # _shown asked first
    _code, general, kinds = validity
    patterns = [p for k in kinds if (p := _pattern_for(k, length)) is not None]
    whole = _pattern_for(general, length)
    if whole is None or not patterns:
        return None
    if len(patterns) == 1:
        return re.compile(whole), re.compile(patterns[0])
    return re.compile(whole), re.compile("|".join(f"(?:{p})" for p in patterns))


def _pattern_for(desc: _Desc | None, length: int) -> str | None:
    """A description's pattern, if a number of ``length`` digits can fit it (its possible
    lengths, when it lists any)."""
    if desc is None or (desc.lengths and length not in desc.lengths):
        return None
    return desc.pattern


def _laid_out(national: str, layouts: tuple[_Layout, ...]) -> str:
    """The first layout whose leading digits and pattern fit, applied; the digits if none."""
    for leading, pattern, template in layouts:
        if (leading is None or leading.match(national)) and pattern.fullmatch(national):
            return pattern.sub(template, national)
    return national


@lru_cache(maxsize=16)
def _validity(country: str) -> tuple[int, _Desc | None, tuple[_Desc | None, ...]] | None:
    """(the region's calling code, its general description, the descriptions of the number
    types in the order phonenumbers tries them), or None for a code phonenumbers does not
    list as a region."""
    import phonenumbers  # lazy (supported_regions says why)

    if country not in phonenumbers.SUPPORTED_REGIONS:
        return None
    m = phonenumbers.PhoneMetadata.metadata_for_region(country)
    if m is None or m.country_code is None:
        return None
    kinds = [
        m.premium_rate,
        m.toll_free,
        m.shared_cost,
        m.voip,
        m.personal_number,
        m.pager,
        m.uan,
        m.voicemail,
        m.fixed_line,
    ]
    if not m.same_mobile_and_fixed_line_pattern:
        kinds.append(m.mobile)
    return m.country_code, _desc(m.general_desc), tuple(_desc(k) for k in kinds)


def _desc(desc: Any) -> _Desc | None:
    if desc is None:
        return None
    pattern = desc.national_number_pattern
    return _Desc(frozenset(desc.possible_length), pattern or None)


# format_number puts the national prefix formatting rule in place of the format's first group.
_FIRST_GROUP = re.compile(r"(\\\d)")


@lru_cache(maxsize=256)
def _layouts(code: int) -> tuple[tuple[_Layout, ...], tuple[_Layout, ...]] | None:
    """(the NATIONAL layouts, the INTERNATIONAL ones) of a calling code's numbers, from the
    metadata of its main region, as format_number reads them; None without metadata."""
    import phonenumbers  # lazy (supported_regions says why)

    m = phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(
        code, phonenumbers.region_code_for_country_code(code)
    )
    if m is None:
        return None
    national = tuple(_layout(f, f.national_prefix_formatting_rule) for f in m.number_format)
    abroad = tuple(_layout(f, None) for f in (m.intl_number_format or m.number_format))
    return national, abroad


def _layout(f: Any, prefix_rule: str | None) -> _Layout:
    template = f.format
    if prefix_rule:
        template = _FIRST_GROUP.sub(prefix_rule, template, count=1)
    leading = re.compile(f.leading_digits_pattern[-1]) if f.leading_digits_pattern else None
    pattern = re.compile(f.pattern)
    return _Layout(leading, pattern, _filler(template, pattern))


# A template re.sub reads as text and group references \\1-\\9 only (no other escapes, no
# reference followed by a digit, which re would read as a two-digit group).
_SIMPLE_TEMPLATE = re.compile(r"(?:\\[1-9](?![0-9])|[^\\])*")
_PIECE = re.compile(r"\\([1-9])|[^\\]+")


def _filler(template: str, pattern: re.Pattern[str]) -> Callable[[re.Match[str]], str] | str:
    """re.sub's replacement for ``template``: the same text, without parsing it per call."""
    if not _SIMPLE_TEMPLATE.fullmatch(template):
        return template
    text = []
    for piece in _PIECE.finditer(template):
        if piece[1] is None:
            text.append(piece[0].replace("{", "{{").replace("}", "}}"))
        elif int(piece[1]) <= pattern.groups:
            text.append(f"{{{int(piece[1]) - 1}}}")
        else:
            return template  # re.sub's error, not ours
    fmt = "".join(text)

    def fill(match: re.Match[str]) -> str:
        # A group that took no part in the match is empty, as in re.sub.
        return fmt.format(*match.groups(""))

    return fill


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


@lru_cache(maxsize=1)
def rules() -> str:
    """The phonenumbers release whose rules format numbers here (its ``__version__``), without
    importing it: the report asks for the forms kept under these rules with its first query
    (sql/0016_number_forms.sql), while phonenumbers may still be loading in a thread
    (callback_desk/report/command.py). Read from the package's ``__init__.py``, as
    :func:`supported_regions` reads its data directory; the import if that layout ever changes
    (tests/unit/test_phone.py compares the two)."""
    for entry in sys.path:
        try:
            with open(os.path.join(entry or ".", "phonenumbers", "__init__.py"), "rb") as f:
                source = f.read()
        except OSError:
            continue
        found = _VERSION.search(source)
        if found:
            return found[1].decode("ascii")
        break
    import phonenumbers  # lazy (see above)

    return str(phonenumbers.__version__)


_VERSION = re.compile(rb'^__version__ = "([0-9A-Za-z.+-]+)"$', re.MULTILINE)


def mask(raw: str | None) -> str:
    """A number safe for logs: only the last two digits survive (``•••••23``)."""
    if not raw:
        return "<none>"
    digits = _NOT_DIGITS.sub("", raw)  # ASCII digits only (one line per missed call: cheap)
    if len(digits) < 4:
        return "•" * max(len(raw), 1)
    return "•" * (len(digits) - 2) + digits[-2:]
