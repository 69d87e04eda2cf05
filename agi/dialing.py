"""Strict callback-number validation and Dial() string building.

A stored number is caller ID: attacker-controlled. ``5551234@phones&Local/19005550199`` reached
Dial() once and dialled an injected leg; ``FILTER(0-9)`` "repaired" it into another number. So
this module rejects, never repairs: only ASCII digits with an optional leading ``+``, within the
length bounds, in an allowed region and type, and matching the optional ``allow`` regex, may
ever become part of a dial string — and the final string is checked again just before use.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

from agi.config import AgiSettings, NumberFormat
from callback_desk.core.exceptions import NotCallable

if TYPE_CHECKING:
    import phonenumbers

# re.ASCII: \d would otherwise accept Arabic-Indic and other Unicode digits.
_STRICT = re.compile(r"\+?[0-9]+", re.ASCII)


@dataclass(frozen=True)
class CallbackNumber:
    e164: str  # "+12125550123"
    dial: str  # what goes into the dial string, per [agi] number_format
    display: str  # for the desk phone's display: "(212) 555-0123", "+41 21 234 56 78"


@lru_cache(maxsize=1)
def allowed_types() -> frozenset[int]:
    """Types a callback may go to; premium-rate, shared-cost, UAN, pager, voicemail-access and
    unknown (short codes) numbers are refused."""
    import phonenumbers  # lazy: the first prompt needs no number rules

    kind = phonenumbers.PhoneNumberType
    return frozenset(
        {
            kind.FIXED_LINE,
            kind.MOBILE,
            kind.FIXED_LINE_OR_MOBILE,
            kind.TOLL_FREE,
            kind.VOIP,
            kind.PERSONAL_NUMBER,
        }
    )


class NumberRules(NamedTuple):
    """What of ``[agi]`` (and ``[pbx] country``) decides whether and how a number is dialled."""

    country: str
    allow_regions: tuple[str, ...]
    allow: re.Pattern[str] | None
    min_length: int
    max_length: int
    number_format: NumberFormat

    @classmethod
    def of(cls, cfg: AgiSettings) -> NumberRules:
        return cls(
            cfg.country,
            cfg.allow_regions,
            cfg.allow,
            cfg.min_length,
            cfg.max_length,
            cfg.number_format,
        )


def validate(raw: str, cfg: AgiSettings) -> CallbackNumber:
    """The callable form of a stored number, or :class:`NotCallable` saying why not."""
    if not isinstance(raw, str) or not _STRICT.fullmatch(raw):
        raise NotCallable("the stored number is not digits with an optional leading +")
    verdict = _verdict(raw, NumberRules.of(cfg))
    if isinstance(verdict, str):
        raise NotCallable(verdict)
    return verdict


# Kept for the numbers seen last, refusals too: the inbox asks for every caller of the page it
# draws again at each live update (a front desk's page of fifty, ~7 ms of phonenumbers), and a
# number's verdict depends on nothing but the number and the rules.
@lru_cache(maxsize=4096)
def _verdict(raw: str, rules: NumberRules) -> CallbackNumber | str:
    """:func:`validate`'s number, or why it is refused, for digits with an optional +."""
    import phonenumbers  # lazy, as above

    digits = raw.removeprefix("+")
    if not rules.min_length <= len(digits) <= rules.max_length:
        return (
            f"the stored number has {len(digits)} digits "
            f"(allowed {rules.min_length}-{rules.max_length})"
        )
    try:
        parsed = phonenumbers.parse(raw, None if raw.startswith("+") else rules.country)
    except phonenumbers.NumberParseException:
        return "the stored number is not a phone number"
    # phonenumbers' is_valid_number() is this test in the region it finds: found once here.
    region = phonenumbers.region_code_for_number(parsed)
    if region is None or not phonenumbers.is_valid_number_for_region(parsed, region):
        return "the stored number is not a valid phone number"
    if region not in rules.allow_regions:
        return f"numbers in region {region} are not allowed ([agi] allow_regions)"
    if phonenumbers.number_type(parsed) not in allowed_types():
        return "premium-rate, shared-cost and short-code numbers are never called"
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if rules.allow is not None and not rules.allow.fullmatch(e164):
        return "the number does not match the [agi] allow pattern"
    dial, display = dial_form(parsed, e164, region, rules)
    # Belt and braces: whatever phonenumbers returned must itself pass the strict pattern.
    for value in (e164, dial):
        if not _STRICT.fullmatch(value):
            return "the number did not survive formatting"
    return CallbackNumber(e164=e164, dial=dial, display=display)


def dial_form(
    parsed: phonenumbers.PhoneNumber, e164: str, region: str, rules: NumberRules
) -> tuple[str, str]:
    """What to dial and what to show, so that the PBX reaches exactly ``e164``.

    ``national`` dials national digits only for a number in the PBX's own country
    (``[pbx] country``). The national digits of a foreign number, dialled from home, reach a
    different subscriber (+41 21 234 56 78 as 021 234 56 78 from Germany is +49 21 234 56 78),
    so a foreign number is dialled as the PBX's country dials abroad: its international
    prefix (00, 011, ...) and the full number (0041212345678 from Germany, 011442079460018
    from the US; 1 and the number within the North American plan). The display follows: the
    national form at home, the international form ("+41 21 234 56 78") for a foreign number.
    """
    import phonenumbers  # lazy (supported_regions says why)

    fmt = phonenumbers.PhoneNumberFormat
    if region == rules.country:
        display = phonenumbers.format_number(parsed, fmt.NATIONAL)
        dial = _digits(display)
    else:
        display = phonenumbers.format_number(parsed, fmt.INTERNATIONAL)
        dial = _digits(phonenumbers.format_out_of_country_calling_number(parsed, rules.country))
    # Read back as the PBX will: a country with no single international prefix (phonenumbers
    # writes "+41 ..." or "8~10 ...") or any other surprise falls back to the E.164 form,
    # the one string that cannot mean another subscriber.
    if rules.number_format == "e164" or _read_back(dial, rules.country) != e164:
        dial = e164
    return dial, display


def _read_back(dial: str, country: str) -> str | None:
    import phonenumbers  # lazy (supported_regions says why)

    try:
        parsed = phonenumbers.parse(dial, country)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isascii() and ch.isdigit())


@dataclass(frozen=True)
class DialPlan:
    """What the AGI does to place a callback: variables to set, then ``EXEC Dial``."""

    variables: tuple[tuple[str, str], ...]
    dial_args: str


def dial_plan(number: CallbackNumber, cfg: AgiSettings) -> DialPlan:
    """The caller-ID variables and Dial() arguments for a validated number.

    FreePBX recomputes caller ID on the trunk leg (macro-outbound-callerid), so CALLERID(num)
    alone is overwritten: TRUNKCIDOVERRIDE is what it honours — unless the trunk is set to
    "Force Trunk CID", which wins over everything (see docs/calling-back.md). ``__`` makes
    the variable reach the trunk channel through the Local channel.
    """
    if not cfg.callback_number:
        raise NotCallable("[agi] callback_number is not set: no neutral number to present")
    name = "hidden" if cfg.withhold and cfg.dial_mode == "freepbx" else cfg.callback_name
    variables: list[tuple[str, str]] = [
        ("CALLERID(num)", cfg.callback_number),
        ("CALLERID(name)", name),
    ]
    if cfg.withhold:
        variables.append(("CALLERID(pres)", "prohib_passed_screen"))
    if cfg.dial_mode == "freepbx":
        cid = f'"{name}" <{cfg.callback_number}>' if name else f"<{cfg.callback_number}>"
        variables.append(("__TRUNKCIDOVERRIDE", cid))
        target = f"Local/{number.dial}@{cfg.freepbx_context}"
    else:
        target = cfg.dial_template.replace("{number}", number.dial)
    # No T/t/H/h/W/w/K/k: the callee gets no transfer, hang-up or recording features. g lets the
    # AGI record the outcome after the callee hangs up.
    args = f"{target},{cfg.dial_timeout},g"
    check_dial_args(args, number)
    return DialPlan(tuple(variables), args)


def check_dial_args(args: str, number: CallbackNumber) -> None:
    """Refuse a dial string holding anything the number could have injected."""
    target, _, rest = args.partition(",")
    if number.dial not in target or re.search(r"[&|\s\"'$;\\]", target):
        raise NotCallable("refusing an unsafe dial string")
    if not re.fullmatch(r"[0-9]+,g", rest, re.ASCII):
        raise NotCallable("refusing an unsafe dial string")
