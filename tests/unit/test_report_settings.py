"""[report] and [smtp]: typed values, env overrides, and errors that name the key."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import pytest

from callback_desk.core.config import Secret, Settings
from callback_desk.core.exceptions import ConfigError
from callback_desk.core.opening import NAMELESS_OPENING_LINE
from callback_desk.report.settings import Recipient, report_settings, smtp_settings


def load(environ: dict[str, str] | None = None, **sections: Any) -> Settings:
    base: dict[str, Any] = {"database": {"dsn": "postgresql://unused/"}, **sections}
    return Settings.from_mapping(base, environ=environ or {})


def test_defaults_are_weekdays_eight_to_six_in_the_pbx_zone() -> None:
    rs = report_settings(load(pbx={"timezone": "Europe/Berlin"}))
    assert rs.timezone.key == "Europe/Berlin"
    assert rs.hours.days == frozenset(range(5))
    assert rs.hours.closes == time(18)
    # Numbers are masked in email unless the practice opts out (email leaves the building).
    assert rs.recipients == () and rs.email_when_empty and rs.mask_numbers_in_email
    assert rs.opening_for("") == NAMELESS_OPENING_LINE
    assert rs.opening_for("Kim").startswith("Hi, this is Kim,")


def test_recipients_table_in_both_forms() -> None:
    rs = report_settings(
        load(
            report={
                "email_to": ["desk@example.org"],
                "recipients": {
                    "jane@example.org": {"covers": ["2001", "101"], "first_name": "Jane"},
                    "sam@example.org": ["102"],
                },
                "business_days": ["Monday", "tue", "sat"],
                "holidays": ["2026-12-25"],
                "closes": "17:30",
            }
        )
    )
    assert rs.recipients == (
        Recipient("desk@example.org"),
        Recipient("jane@example.org", ("2001", "101"), "Jane"),
        Recipient("sam@example.org", ("102",)),
    )
    assert rs.hours.days == frozenset({0, 1, 5})
    assert rs.hours.holidays == frozenset({date(2026, 12, 25)})
    assert rs.hours.closes == time(17, 30)


def test_environment_overrides_report_and_smtp_keys() -> None:
    env = {
        "CALLBACK_DESK_REPORT_EMAIL_WHEN_EMPTY": "no",
        "CALLBACK_DESK_REPORT_MASK_NUMBERS_IN_EMAIL": "no",
        "CALLBACK_DESK_REPORT_EMAIL_TO": "a@example.org, b@example.org",
        "CALLBACK_DESK_SMTP_PASSWORD": "from-env",
        "CALLBACK_DESK_SMTP_USERNAME": "desk",
        "CALLBACK_DESK_SMTP_SECURITY": "tls",
    }
    s = load(env, smtp={"host": "mail.example.org", "password": "from-file"})
    rs = report_settings(s)
    assert not rs.email_when_empty and not rs.mask_numbers_in_email
    assert [r.address for r in rs.recipients] == ["a@example.org", "b@example.org"]
    smtp = smtp_settings(s)
    assert smtp.password == Secret("from-env")
    assert (smtp.security, smtp.port, smtp.host) == ("tls", 465, "mail.example.org")
    assert "from-env" not in repr(smtp)


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"report": {"colses": "18:00"}}, "[report] unknown key 'colses'"),
        ({"report": {"closes": "6pm"}}, "[report] closes = '6pm' is not a time of day"),
        # Nothing used the opening time: it is gone, and an old file says so by name.
        ({"report": {"opens": "08:00"}}, "[report] unknown key 'opens'"),
        ({"report": {"business_days": ["funday"]}}, "'funday' is not a weekday"),
        ({"report": {"holidays": ["25/12"]}}, "'25/12' is not a date"),
        ({"report": {"opening_line": "Hi {practice}"}}, "may only use {first_name}"),
        ({"report": {"opening_line": "Hi {"}}, "not a valid template"),
        ({"report": {"email_to": ["not-an-address"]}}, "is not an email address"),
        ({"report": {"recipients": {"j@x.org": []}}}, "covers must be a non-empty list"),
        ({"report": {"recipients": {"j@x.org": ["1; x"]}}}, "is not a DID or extension"),
        ({"report": {"recipients": {"j@x.org": {"cover": ["1"]}}}}, "unknown key 'cover'"),
        ({"report": {"recipients": {"j@x.org": 5}}}, "must be a list of lines or a table"),
        ({"report": {"timezone": "Mars/Base"}}, "is not a known time zone"),
        ({"report": {"week_days": 0}}, "[report] week_days = 0 is not a valid int >= 1"),
        ({"smtp": {"security": "ssl"}}, "must be 'starttls', 'tls' or 'none'"),
        ({"smtp": {"port": 70000}}, "is not a valid TCP port"),
        ({"smtp": {"password": "x"}}, "password is set but username is not"),
        ({"smtp": {"sender": "Desk"}}, "[smtp] sender: 'Desk' is not an email address"),
    ],
)
def test_mistakes_name_the_key(sections: dict[str, Any], message: str) -> None:
    s = load(**sections)
    with pytest.raises(ConfigError) as info:
        report_settings(s)
        smtp_settings(s)
    assert message in str(info.value)
