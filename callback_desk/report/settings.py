"""The ``[report]`` and ``[smtp]`` sections, parsed into frozen values.

Every scalar key can be overridden from the environment (``CALLBACK_DESK_REPORT_<KEY>``,
``CALLBACK_DESK_SMTP_<KEY>``); the nested ``[report.recipients]`` table cannot.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date, time
from zoneinfo import ZoneInfo

from callback_desk.core.config import Secret, Section, Settings
from callback_desk.core.exceptions import ConfigError
from callback_desk.core.opening import DEFAULT_OPENING_LINE, check_template, opening_line
from callback_desk.core.record import field, record
from callback_desk.core.typeshim import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any, Literal, TypeAlias

    # For mypy only: typing is not loaded on the report's path (callback_desk.core.typeshim).
    Security: TypeAlias = Literal["starttls", "tls", "none"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DEFAULT_PORTS: dict[Security, int] = {"starttls": 587, "tls": 465, "none": 25}
# Deliberately loose (the SMTP server has the last word); it only catches typos and header tricks.
_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+$")
_COVER = re.compile(r"^[A-Za-z0-9+*#_.-]{1,40}$")


@record
class BusinessHours:
    days: frozenset[int] = frozenset(range(5))  # date.weekday(): Monday is 0
    # Calls after the last closing are "new" on the next report. (No opening time: nothing
    # depends on it.)
    closes: time = time(18, 0)
    holidays: frozenset[date] = frozenset()

    def is_business_day(self, day: date) -> bool:
        return day.weekday() in self.days and day not in self.holidays


@record
class Recipient:
    """Who gets an email, and which lines (DIDs or extensions) their report covers.

    An empty ``covers`` means every caller (the front desk, a solo practitioner).
    """

    address: str
    covers: tuple[str, ...] = ()
    first_name: str = ""


@record
class ReportSettings:
    timezone: ZoneInfo
    hours: BusinessHours = field(default_factory=BusinessHours)
    opening_line: str = DEFAULT_OPENING_LINE
    first_name: str = ""
    week_days: int = 7
    recipients: tuple[Recipient, ...] = ()
    email_when_empty: bool = True
    mask_numbers_in_email: bool = True
    # tel: links dial from the phone reading the report and show ITS number (a therapist's own
    # mobile); off unless an admin opts in. The masked way is the inbox or the desk phone.
    tel_links: bool = False

    def opening_for(self, first_name: str) -> str:
        return opening_line(first_name or self.first_name, self.opening_line)


@record
class SmtpSettings:
    host: str = "localhost"
    port: int = 587
    security: Security = "starttls"
    username: str = ""
    password: Secret | None = None
    sender: str = "callback-desk@localhost"
    timeout: float = 30.0
    # Extra CA bundle for a server with a private certificate; the system store otherwise.
    ca_file: str = ""


def _clock(section: Section, key: str, default: str) -> time:
    raw = section.text(key, default)
    try:
        return time.fromisoformat(raw)
    except ValueError as exc:
        raise ConfigError(
            f"[{section.name}] {key} = {raw!r} is not a time of day (e.g. '18:00')"
        ) from exc


def _days(section: Section) -> frozenset[int]:
    names = section.strings("business_days", WEEKDAYS[:5])
    days: set[int] = set()
    for name in names:
        short = name.strip().lower()[:3]
        if short not in WEEKDAYS:
            raise ConfigError(
                f"[report] business_days: {name!r} is not a weekday (use mon, tue, ... sun)"
            )
        days.add(WEEKDAYS.index(short))
    if not days:
        raise ConfigError("[report] business_days must name at least one weekday")
    return frozenset(days)


def _holidays(section: Section) -> frozenset[date]:
    found: set[date] = set()
    for raw in section.strings("holidays", ()):
        try:
            found.add(date.fromisoformat(raw))
        except ValueError as exc:
            raise ConfigError(
                f"[report] holidays: {raw!r} is not a date (e.g. '2026-12-25')"
            ) from exc
    return frozenset(found)


def check_address(address: str, where: str) -> str:
    if not _ADDRESS.match(address):
        raise ConfigError(f"{where}: {address!r} is not an email address")
    return address


def check_cover(value: str, where: str) -> str:
    """A DID or extension as Asterisk shows it (``2000``, ``+12125550100``, ``100``)."""
    if not _COVER.match(value):
        raise ConfigError(f"{where}: {value!r} is not a DID or extension")
    return value


def _recipients(section: Section) -> tuple[Recipient, ...]:
    found = [
        Recipient(check_address(address, "[report] email_to"))
        for address in section.strings("email_to", ())
    ]
    for address, value in section.table("recipients").items():
        where = f"[report.recipients] {address!r}"
        check_address(address, "[report.recipients]")
        covers: Any
        first_name: Any = ""
        if isinstance(value, list):
            covers = value
        elif isinstance(value, dict):
            unknown = sorted(set(value) - {"covers", "first_name"})
            if unknown:
                raise ConfigError(f"{where}: unknown key {unknown[0]!r}")
            covers = value.get("covers", [])
            first_name = value.get("first_name", "")
        else:
            raise ConfigError(f"{where} must be a list of lines or a table {{ covers = [...] }}")
        if not isinstance(first_name, str):
            raise ConfigError(f"{where}: first_name must be a string")
        if not isinstance(covers, list) or not covers:
            raise ConfigError(f"{where}: covers must be a non-empty list of DIDs or extensions")
        for cover in covers:
            if not isinstance(cover, str):
                raise ConfigError(f"{where}: {cover!r} is not a DID or extension")
            check_cover(cover, where)
        found.append(Recipient(address, tuple(covers), first_name))
    return tuple(found)


def report_settings(settings: Settings) -> ReportSettings:
    section = settings.section("report")
    closes = _clock(section, "closes", "18:00")
    result = ReportSettings(
        timezone=section.timezone("timezone", settings.pbx.timezone.key),
        hours=BusinessHours(_days(section), closes, _holidays(section)),
        opening_line=check_template(
            section.text("opening_line", DEFAULT_OPENING_LINE), "[report] opening_line"
        ),
        first_name=section.text("first_name", ""),
        week_days=section.integer("week_days", ReportSettings.week_days, minimum=1),
        recipients=_recipients(section),
        email_when_empty=section.flag("email_when_empty", ReportSettings.email_when_empty),
        mask_numbers_in_email=section.flag(
            "mask_numbers_in_email", ReportSettings.mask_numbers_in_email
        ),
        tel_links=section.flag("tel_links", ReportSettings.tel_links),
    )
    section.finish()
    return result


def smtp_settings(settings: Settings) -> SmtpSettings:
    section = settings.section("smtp")
    security = section.text("security", SmtpSettings.security).lower()
    if security not in _DEFAULT_PORTS:
        raise ConfigError(
            f"[smtp] security = {security!r} must be 'starttls', 'tls' or 'none' "
            "('none' sends the report in clear text)"
        )
    sec: Security = "starttls" if security == "starttls" else "tls" if security == "tls" else "none"
    password = section.inline_secret("password")
    result = SmtpSettings(
        host=section.text("host", SmtpSettings.host),
        port=section.integer("port", _DEFAULT_PORTS[sec], minimum=1),
        security=sec,
        username=section.text("username", SmtpSettings.username),
        password=password if password else None,
        sender=check_address(section.text("sender", SmtpSettings.sender), "[smtp] sender"),
        timeout=section.number("timeout", SmtpSettings.timeout, minimum=1.0),
        ca_file=section.text("ca_file", SmtpSettings.ca_file),
    )
    section.finish()
    if result.port > 65535:
        raise ConfigError(f"[smtp] port = {result.port} is not a valid TCP port")
    if result.password and not result.username:
        raise ConfigError("[smtp] password is set but username is not")
    if result.security == "none" and not _loopback(result.host):
        # Clear text across a network exposes callers' numbers to anyone on the path.
        raise ConfigError(
            f"[smtp] security = 'none' is allowed only to this machine (localhost, 127.0.0.1, "
            f"::1), not to {result.host!r}: use 'starttls' or 'tls'"
        )
    return result


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
