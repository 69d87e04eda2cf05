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


def _every_example_key() -> list[str]:
    """The E.164 form of phonenumbers' example number of every type in every region, and the
    numbers around the paths parse() takes that the direct one must not (a national prefix at
    the start, leading zeros, a country code that is not one)."""
    import phonenumbers

    keys = set()
    for region in phonenumbers.SUPPORTED_REGIONS:
        for kind in range(12):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                keys.add(phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164))
    for code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        for national in ("0", "00", "01234567", "1", "12125550123", "8005553535", "81234567890"):
            keys.add(f"+{code}{national}")
    return sorted(keys | {"+12125550123", "+112125550123", "+78005553535", "+88", "+999123"})


def test_a_number_key_is_parsed_as_phonenumbers_parses_it() -> None:
    import phonenumbers

    keys = _every_example_key()
    assert len(keys) > 2000
    for key in keys:
        try:
            expected = phonenumbers.parse(key, None)
        except phonenumbers.NumberParseException as exc:
            with pytest.raises(phonenumbers.NumberParseException) as raised:
                phone.parse_key(key)
            assert raised.value.error_type == exc.error_type, key
            continue
        assert phone.parse_key(key) == expected, key


@given(st.from_regex(r"\+[1-9][0-9]{3,16}", fullmatch=True))
def test_any_plus_digits_are_parsed_as_phonenumbers_parses_them(key: str) -> None:
    import phonenumbers

    try:
        expected = phonenumbers.parse(key, None)
    except phonenumbers.NumberParseException:
        with pytest.raises(phonenumbers.NumberParseException):
            phone.parse_key(key)
        return
    assert phone.parse_key(key) == expected


@pytest.mark.parametrize("country", ["US", "DE", "GB"])
def test_a_caller_in_plus_form_gets_the_key_and_verdict_parse_gives(country: str) -> None:
    # The listener reads callers in + form without parse() (phone._direct): the answers of
    # the path through parse().
    for key in _every_example_key():
        got = (phone.number_key(key, country), phone.is_callable(key, country))
        assert got == phone._parsed(key, country), key


@given(st.from_regex(r"\+[1-9][0-9]{3,16}", fullmatch=True))
def test_any_caller_in_plus_form_gets_the_key_and_verdict_parse_gives(raw: str) -> None:
    expected = phone._parsed(raw, "US")
    assert (phone.number_key(raw, "US"), phone.is_callable(raw, "US")) == expected


# Regions whose rules differ in the ways formatting can: national prefixes in the first group
# (GB, DE, FR), none (US, IT), separate international layouts (AR, MX), shared calling codes
# (CA, GG), many lengths (DE, AT), leading zeros kept (IT).
_PRACTICES = ["US", "CA", "GB", "GG", "DE", "AT", "FR", "IT", "AR", "MX", "BR", "IN", "JP", "AU"]


@pytest.mark.parametrize("country", _PRACTICES)
def test_every_example_number_is_shown_as_phonenumbers_formats_it(country: str) -> None:
    keys = _every_example_key()
    direct = 0
    for key in keys:
        # phone._formatted: the library's own validity test and formatting, per number.
        assert phone.national_format(key, "raw", country) == phone._formatted(key, country), key
        direct += phone._direct_parts(key) is not None
    assert direct > len(keys) // 2  # the rules read once, not the library, showed most of them


@given(
    st.from_regex(r"\+[1-9][0-9]{3,16}", fullmatch=True)
    | st.from_regex(r"\+1[2-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True),
    st.sampled_from(_PRACTICES),
)
def test_any_number_is_shown_as_phonenumbers_formats_it(key: str, country: str) -> None:
    assert phone.national_format(key, "raw", country) == phone._formatted(key, country)


def test_every_regions_number_types_can_be_tested_as_one_pattern() -> None:
    # phone._checks joins a region's type patterns into one alternation, which fits a number
    # in full exactly where one of them does only while they hold no back-references, no
    # conditionals and no inline flags.
    import re

    import phonenumbers

    unsafe = re.compile(r"\\[1-9]|\(\?P=|\(\?\(|\(\?[aiLmsux]")
    for region in phonenumbers.SUPPORTED_REGIONS:
        validity = phone._validity(region)
        assert validity is not None, region
        _code, general, kinds = validity
        for desc in (general, *kinds):
            if desc is not None and desc.pattern is not None:
                assert not unsafe.search(desc.pattern), region


def test_a_template_beyond_plain_group_references_is_left_to_re() -> None:
    import re

    pattern = re.compile(r"(\d{3})(\d{4})")
    for template in (r"\g<1>-\2", r"\1\\\2", r"\10"):
        assert phone._filler(template, pattern) == template
    fill = phone._filler(r"{\1} \2", pattern)
    assert not isinstance(fill, str)
    assert pattern.sub(fill, "5550123") == "{555} 0123"


def test_the_rules_read_without_importing_are_phonenumbers_release() -> None:
    import phonenumbers

    phone.rules.cache_clear()
    assert phone.rules() == phonenumbers.__version__
