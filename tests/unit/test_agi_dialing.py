"""The validator is the only door between stored caller ID and Dial(): property-tested."""

from __future__ import annotations

import itertools
import re
from functools import cache

import phonenumbers
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneMetadata

from agi.config import AgiSettings, load
from agi.dialing import allowed_types, dial_plan, validate
from callback_desk.core.exceptions import ConfigError, NotCallable
from fakes.settings import make_settings

STRICT = re.compile(r"\+?[0-9]+", re.ASCII)
HOSTILE = [
    "&",
    ",",
    "|",
    "/",
    "@",
    "${",
    ")",
    "(",
    "\n",
    "\r",
    '"',
    "'",
    ";",
    " ",
    "\x00",
    "\u0661\u0662\u0663",  # Arabic-Indic 123
    "\u0661",
    "\u0663",
    "\uff10",  # fullwidth 0
    "²",
    "\U0001d7d9",  # double-struck 1
    "\u200b",
    "+",
    "-",
    "*",
    "#",
]


def cfg(**agi: object):
    return load(make_settings(agi={"callback_number": "+12125550100", **agi}))


CFG = cfg()
CFG_TEMPLATE = cfg(dial_mode="template", dial_template="PJSIP/{number}@trunk")


NANP = st.from_regex(r"\+?1?[2-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True)


@given(st.one_of(st.text(max_size=200), NANP, NANP.map(lambda n: n + "\n")))
@example("5551234@phones&Local/19005550199")
@example("+1212555012${EXTEN}")
@example("2125550123\n")
@example("\u0661\u0662\u0661\u0662\u0665\u0665\u0665\u0660\u0661\u0662\u0663")
@example("+" + "1" * 199)
@example('2125550123"')
@settings(max_examples=400)
def test_only_ascii_digits_with_optional_plus_ever_pass(raw: str) -> None:
    for c in (CFG, CFG_TEMPLATE):
        try:
            number = validate(raw, c)
        except NotCallable:
            continue
        assert STRICT.fullmatch(raw), raw
        assert STRICT.fullmatch(number.dial) and STRICT.fullmatch(number.e164)
        args = dial_plan(number, c).dial_args
        target, timeout, options = args.split(",")
        assert options == "g" and timeout.isdigit()
        assert number.dial in target


@given(
    st.text(alphabet="0123456789", min_size=10, max_size=11),
    st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=4),
    st.integers(min_value=0, max_value=11),
)
def test_a_valid_number_with_anything_spliced_in_is_refused(
    digits: str, junk: list[str], where: int
) -> None:
    raw = digits[:where] + "".join(junk) + digits[where:]
    if raw.startswith("+") and raw.count("+") == 1 and STRICT.fullmatch(raw):
        return  # a lone leading + is allowed by design
    with pytest.raises(NotCallable):
        validate(raw, CFG)


@pytest.mark.parametrize(
    "raw",
    [
        "+19005550199",
        "19005550199",
        "911",
        "411",
        "12345",
        "+4930123456",
        "anonymous",
        "",
        "+",
        "+1",
        "2125550123" * 20,
    ],
)
def test_premium_short_foreign_and_junk_numbers_are_refused(raw: str) -> None:
    with pytest.raises(NotCallable):
        validate(raw, CFG)


def test_a_region_can_be_allowed_explicitly() -> None:
    german = cfg(allow_regions=["US", "DE"])
    assert validate("+4930123456", german).e164 == "+4930123456"


@pytest.mark.parametrize("raw", ["+12125550123", "2125550123", "12125550123"])
def test_us_numbers_normalise(raw: str) -> None:
    number = validate(raw, CFG)
    assert number.e164 == "+12125550123"
    assert number.dial == "2125550123"  # number_format = national (default)
    assert validate(raw, cfg(number_format="e164")).dial == "+12125550123"


def test_allow_pattern_narrows_further() -> None:
    only_212 = cfg(allow=r"\+1212\d{7}")
    assert validate("+12125550123", only_212).e164 == "+12125550123"
    with pytest.raises(NotCallable):
        validate("+12025550199", only_212)


def test_freepbx_plan_sets_trunk_cid_override_and_local_channel() -> None:
    plan = dial_plan(
        validate("+12125550123", cfg(callback_name="Appointments")),
        cfg(callback_name="Appointments"),
    )
    assert plan.dial_args == "Local/2125550123@from-internal,45,g"
    assert ("__TRUNKCIDOVERRIDE", '"Appointments" <+12125550100>') in plan.variables
    assert ("CALLERID(num)", "+12125550100") in plan.variables


def test_withheld_presentation() -> None:
    c = cfg(withhold=True)
    plan = dial_plan(validate("+12125550123", c), c)
    assert ("CALLERID(pres)", "prohib_passed_screen") in plan.variables
    assert ("__TRUNKCIDOVERRIDE", '"hidden" <+12125550100>') in plan.variables


def test_template_plan() -> None:
    plan = dial_plan(validate("+12125550123", CFG_TEMPLATE), CFG_TEMPLATE)
    assert plan.dial_args == "PJSIP/2125550123@trunk,45,g"
    assert not any(name == "__TRUNKCIDOVERRIDE" for name, _ in plan.variables)


def test_no_callback_number_means_no_dial() -> None:
    c = load(make_settings())
    with pytest.raises(NotCallable, match="callback_number"):
        dial_plan(validate("+12125550123", c), c)


@pytest.mark.parametrize(
    ("agi", "message"),
    [
        ({"dial_mode": "sip"}, "dial_mode"),
        ({"dial_mode": "template"}, "dial_template"),
        ({"dial_mode": "template", "dial_template": "PJSIP/{number}@a&PJSIP/1@b"}, "dial_template"),
        ({"callback_number": "555-0100"}, "callback_number"),
        ({"callback_name": 'Dr "X" <1>'}, "callback_name"),
        ({"allow": "(["}, "allow"),
        ({"allow_regions": ["XX"]}, "allow_regions"),
        ({"desk_channel": "PJSIP/100"}, "desk_channel"),
        ({"extensions": {"abc": ["*"]}}, "agi.extensions"),
        ({"sounds": {"menu": ["x"]}}, "agi.sounds"),
        ({"dial_timeout": "x"}, "dial_timeout"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_config_errors_name_the_key(agi: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load(make_settings(agi=agi))


# What each [agi] key accepted when it was checked by a regex; the loader now checks character
# sets and lengths (agi/config.py), and must accept exactly the same values.
AS_REGEX = {
    "feature_code": r"[*#0-9]{1,10}",
    "callback_number": r"\+?[0-9]{3,15}",
    "callback_name": r"[A-Za-z0-9 .'-]{0,40}",
    "freepbx_context": r"[A-Za-z0-9_-]{1,79}",
    "originate_context": r"[A-Za-z0-9_-]{1,79}",
    "desk_channel": r"[^{},&|$\s\"'()\\;]*\{extension\}[^{},&|$\s\"'()\\;]*",
}
TRICKY = "09*#+aZ_-. '\"{},&|$()\\;/<>\t\n\x00\x7f\u00a0\u0660é" + "{extension}"


@pytest.mark.parametrize("key", sorted(AS_REGEX))
@settings(max_examples=300)
@given(
    value=st.one_of(
        st.text(alphabet=TRICKY, max_size=85),
        st.text(alphabet=TRICKY, max_size=6).map(lambda t: "PJSIP/{extension}" + t),
    )
)
def test_each_key_accepts_what_its_regex_accepted(key: str, value: str) -> None:
    checked = value.strip() if key == "callback_number" else value
    if re.fullmatch(AS_REGEX[key], checked) and (key != "callback_number" or checked):
        assert getattr(cfg(**{key: value}), key) == checked
    elif checked or key not in ("callback_number", "callback_name"):
        with pytest.raises(ConfigError, match=key):
            cfg(**{key: value})


@settings(max_examples=300)
@given(name=st.text(alphabet=TRICKY, max_size=45), ext=st.text(alphabet=TRICKY, max_size=12))
def test_extension_tables_accept_what_their_regexes_accepted(name: str, ext: str) -> None:
    good_ext = re.fullmatch(r"[0-9]{1,10}", ext) is not None
    good_name = re.fullmatch(r"[^\x00-\x1f\x7f\"<>,]{1,40}", name) is not None
    good_line = re.fullmatch(r"\+?[0-9]{1,20}", name) is not None or name == "*"
    if good_ext and good_name:
        assert cfg(names={ext: name}).names == {ext: name}
    else:
        with pytest.raises(ConfigError, match=r"agi\.names"):
            cfg(names={ext: name})
    if good_ext and good_line:
        assert cfg(extensions={ext: [name]}).extensions == {ext: (name,)}
    else:
        with pytest.raises(ConfigError, match=r"agi\.extensions"):
            cfg(extensions={ext: [name]})


def test_scopes() -> None:
    c = cfg(extensions={"100": ["2000"], "200": ["*"]})
    assert c.scope("100") == ("2000",)
    assert c.scope("200") == ("*",)
    assert c.scope("999") == ()
    assert cfg().scope("999") == ("*",)


def practice(country: str, *allowed: str, **agi: object):
    return load(
        make_settings(
            pbx={"country": country},
            agi={"callback_number": "+12125550100", "allow_regions": [country, *allowed], **agi},
        )
    )


@pytest.mark.parametrize(
    ("country", "allowed", "caller", "dialled", "shown"),
    [
        # The attack: national digits of a foreign number dialled from home reach another
        # subscriber (021 234 56 78 from Germany is +49 21 234 56 78, not the Swiss caller).
        ("DE", "CH", "+41212345678", "0041212345678", "+41 21 234 56 78"),
        ("US", "GB", "+442079460018", "011442079460018", "+44 20 7946 0018"),
        ("BE", "FR", "+33142685300", "0033142685300", "+33 1 42 68 53 00"),
        ("AT", "DE", "+4930123456", "004930123456", "+49 30 123456"),
        # Home numbers keep their national digits.
        ("DE", "CH", "+4930123456", "030123456", "030 123456"),
    ],
)
def test_a_foreign_number_is_dialled_in_international_form(
    country: str, allowed: str, caller: str, dialled: str, shown: str
) -> None:
    number = validate(caller, practice(country, allowed))
    assert (number.e164, number.dial, number.display) == (caller, dialled, shown)
    assert number.dial in dial_plan(number, practice(country, allowed)).dial_args


REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
E164 = phonenumbers.PhoneNumberFormat.E164


def _country_code(region: str) -> int:
    return phonenumbers.country_code_for_region(region)


# phonenumbers' example number of every region for every type the desk may call (fixed line,
# mobile, toll free, VoIP, personal): (region, E.164).
EXAMPLES = [
    (region, phonenumbers.format_number(number, E164))
    for region in REGIONS
    for kind in sorted(allowed_types())
    if (number := phonenumbers.example_number_for_type(region, kind)) is not None
]
# One region for each distinct way of dialling abroad (international prefix, preferred
# prefix): how a number from elsewhere is dialled depends on nothing else of the home region.
ABROAD_RULES = sorted(
    {
        (meta.international_prefix or "", meta.preferred_international_prefix or ""): region
        for region in reversed(REGIONS)
        if (meta := PhoneMetadata.metadata_for_region(region)) is not None
    }.items()
)


@cache
def _home(region: str, number_format: str) -> AgiSettings:
    # Every region allowed and no length bound: every example number is one the desk may call.
    home: AgiSettings = practice(
        region, *REGIONS, number_format=number_format, min_length=3, max_length=17
    )
    return home


def _dialled_from(home: str, e164: str, number_format: str = "national") -> str:
    """What the desk dials for ``e164`` from ``home``; it must be callable there."""
    number = validate(e164, _home(home, number_format))
    assert STRICT.fullmatch(number.dial)
    return number.dial


def _read_back(dial: str, home: str) -> str:
    return phonenumbers.format_number(phonenumbers.parse(dial, home), E164)


def test_every_example_number_dialled_at_home_is_the_callers_number() -> None:
    # Every example number of every region, dialled from its own region and from every other
    # region sharing its country code (the North American plan, +44, +7, ...): the cases where
    # national digits are dialled, and a wrong digit reaches another subscriber.
    assert len(EXAMPLES) > 1000 and {r for r, _ in EXAMPLES} == set(REGIONS)
    checked = 0
    for region, e164 in EXAMPLES:
        for home in (h for h in REGIONS if _country_code(h) == _country_code(region)):
            for number_format in ("national", "e164"):
                dial = _dialled_from(home, e164, number_format)
                assert _read_back(dial, home) == e164, (region, home, e164, dial)
                checked += 1
    assert checked > 2 * len(EXAMPLES)


def test_every_example_number_dialled_from_abroad_is_the_callers_number() -> None:
    # Every example number once more from a region with another country code; the homes take
    # the distinct ways of dialling abroad in turn, so each way dials ~25 numbers.
    assert len(ABROAD_RULES) > 30
    rules = itertools.cycle(home for _, home in ABROAD_RULES)
    for region, e164 in EXAMPLES:
        home = next(h for h in rules if _country_code(h) != _country_code(region))
        dial = _dialled_from(home, e164)
        assert _read_back(dial, home) == e164, (region, home, e164, dial)


@settings(max_examples=300, deadline=None)
@given(
    home=st.sampled_from(REGIONS),
    example=st.sampled_from(EXAMPLES),
    number_format=st.sampled_from(["national", "e164"]),
)
def test_any_example_number_dialled_from_any_region_is_the_callers_number(
    home: str, example: tuple[str, str], number_format: str
) -> None:
    # Random pairs beyond the two exhaustive walks above (245 homes x 1071 numbers in all).
    _region, e164 = example
    assert _read_back(_dialled_from(home, e164, number_format), home) == e164


def test_a_kept_verdict_answers_for_its_rules_only() -> None:
    # Verdicts are kept per number and rules (the inbox asks again at every redraw): a number
    # refused once is refused every time, and other rules decide afresh.
    only_212 = cfg(allow=r"\+1212\d{7}")
    for _ in range(2):
        with pytest.raises(NotCallable, match="allow pattern"):
            validate("+12025550199", only_212)
    assert validate("+12025550199", CFG).e164 == "+12025550199"
    with pytest.raises(NotCallable, match="allow_regions"):
        validate("+12025550199", cfg(allow_regions=["CA"]))
