"""How a caller's number and a call's line look to people: one look everywhere (the inbox, a
caller's history, the week, the morning report in every format, its email, the demo).

- A number in the practice's own country in its national form (``(212) 555-0123``), one from
  abroad in its international form (``+44 20 7946 0123``), a withheld one as ``(withheld)``,
  anything else as the PBX sent it (escaping is the page's or the terminal's job).
- A line as the number dialled and the desk phones it rang: ``2001 → 100, 101``, from the
  extensions the database derives from Asterisk's dial strings (``calls.extensions``,
  sql/0003_awaiting.sql), never the dial strings themselves (``PJSIP/100@phones``).
"""

from __future__ import annotations

from collections.abc import Sequence

from callback_desk.core.phone import is_withheld, national_format
from callback_desk.core.typeshim import Protocol

WITHHELD = "(withheld)"


def number(key: str | None, raw: str, country: str) -> str:
    """A caller's number for people; ``key`` is the stored number key (E.164 when callable)."""
    if key:
        return national_format(key, raw, country)
    if is_withheld(raw):
        return WITHHELD
    return raw


def line(did: str, extensions: Sequence[str]) -> str:
    """The line a call came in on and the desk phones it rang: ``2001 → 100, 101``."""
    rang = ", ".join(extensions)
    if did and rang:
        return f"{did} → {rang}"
    return did or rang


class Numbered(Protocol):
    @property
    def number_key(self) -> str | None: ...
    @property
    def number(self) -> str: ...


class Routed(Protocol):
    @property
    def did(self) -> str: ...
    @property
    def extensions(self) -> Sequence[str]: ...


def number_of(call: Numbered, country: str) -> str:
    """:func:`number` of a call or caller row (report, inbox, history)."""
    return number(call.number_key, call.number, country)


def line_of(call: Routed) -> str:
    """:func:`line` of a call or caller row."""
    return line(call.did, call.extensions)
