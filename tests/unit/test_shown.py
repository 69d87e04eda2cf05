"""One look for numbers and lines (core.shown), whatever shows them."""

from __future__ import annotations

import pytest

from callback_desk.core.shown import WITHHELD, line, number


@pytest.mark.parametrize(
    ("key", "raw", "country", "looks"),
    [
        ("+12125550106", "2125550106", "US", "(212) 555-0106"),  # at home: national
        ("+442079460123", "00442079460123", "US", "+44 20 7946 0123"),  # abroad: international
        ("+442079460123", "02079460123", "GB", "020 7946 0123"),
        (None, "anonymous", "US", WITHHELD),
        (None, "", "US", WITHHELD),
        (None, "sip:someone@example.org", "US", "sip:someone@example.org"),  # as sent
    ],
)
def test_a_number_looks_the_same_everywhere(key, raw, country, looks) -> None:
    assert number(key, raw, country) == looks


@pytest.mark.parametrize(
    ("did", "extensions", "looks"),
    [
        ("2001", ("100", "101"), "2001 → 100, 101"),
        ("2003", (), "2003"),
        ("", ("100",), "100"),
    ],
)
def test_a_line_is_the_number_dialled_and_the_desks_it_rang(did, extensions, looks) -> None:
    assert line(did, extensions) == looks
