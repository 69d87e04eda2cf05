from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callback_desk.core import phone


@pytest.mark.parametrize(
    ("raw", "country", "key"),
    [
        ("2125550123", "US", "+12125550123"),
        ("+1 (212) 555-0123", "US", "+12125550123"),
        ("0012125550123", "DE", "+12125550123"),
        ("030 1234567", "DE", "+49301234567"),
        ("+49301234567", "US", "+49301234567"),
        ("101", "US", "101"),
        ("anonymous", "US", None),
        ("<unknown>", "US", None),
        ("", "US", None),
        ("5551234@phones&Local/19005550199", "US", None),
        ("٢١٢٥٥٥٠١٢٣", "US", None),
    ],
)
def test_number_key(raw: str, country: str, key: str | None) -> None:
    assert phone.number_key(raw, country) == key


def test_national_and_plus_forms_are_the_same_caller() -> None:
    assert phone.number_key("(212) 555-0123", "US") == phone.number_key("+12125550123", "US")


@pytest.mark.parametrize(
    ("raw", "callable_"),
    [
        ("2125550123", True),
        ("anonymous", False),
        ("101", False),
        ("Restricted", False),
        ("+12125550123", True),
        ("2125550123;ext", False),
    ],
)
def test_is_callable(raw: str, callable_: bool) -> None:
    assert phone.is_callable(raw, "US") is callable_


@given(st.text(max_size=200))
def test_key_is_only_ever_digits_with_optional_plus(raw: str) -> None:
    key = phone.number_key(raw, "US")
    if key is not None:
        body = key.removeprefix("+")
        assert body.isascii() and body.isdigit()


def test_mask_keeps_only_two_digits() -> None:
    masked = phone.mask("+12125550123")
    assert masked.endswith("23")
    assert "555" not in masked
    assert phone.mask(None) == "<none>"


def test_national_format() -> None:
    assert phone.national_format("+12125550123", "2125550123", "US") == "(212) 555-0123"
    assert phone.national_format("+49301234567", "x", "US").startswith("+49")
    assert phone.national_format(None, "anonymous", "US") == "anonymous"


@given(st.from_regex(r"\+?[0-9 ()\-]{0,18}", fullmatch=True), st.sampled_from(["US", "DE", "GB"]))
def test_callable_means_the_key_reads_back_as_a_possible_number(raw: str, country: str) -> None:
    # One parse answers both questions; this is the two-parse definition it replaced.
    import phonenumbers

    key = phone.number_key(raw, country)
    expected = False
    if key is not None and key.startswith("+"):
        try:
            expected = phonenumbers.is_possible_number(phonenumbers.parse(key, None))
        except phonenumbers.NumberParseException:
            expected = False
    assert phone.is_callable(raw, country) is expected


def test_supported_regions_without_the_import_match_phonenumbers() -> None:
    import phonenumbers

    from callback_desk.core.phone import supported_regions

    assert supported_regions() == phonenumbers.SUPPORTED_REGIONS
