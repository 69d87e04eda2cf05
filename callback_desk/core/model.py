"""Plain values shared by the listener, the store and the reports, and the codes they store.

Each ``StrEnum`` below is the vocabulary of one column; the CHECK constraints of
``sql/0004_vocabulary.sql`` admit exactly these values (tests/test_vocabulary.py compares them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

Direction = Literal["inbound", "outbound"]
Outcome = Literal["answered", "voicemail", "missed"]


class Disposition(StrEnum):
    """A therapist's verdict on a caller (``caller_dispositions.disposition``)."""

    HANDLED = "handled"  # dealt with another way: resolves the caller's calls up to now
    NEVER = "never"  # spam or wrong number: never list this caller again


class DialStatus(StrEnum):
    """How a callback's Dial() ended (``callback_attempts.dial_status``): Asterisk's DIALSTATUS
    values, plus UNKNOWN for an attempt whose outcome was never reported."""

    ANSWER = "ANSWER"
    BUSY = "BUSY"
    NOANSWER = "NOANSWER"
    CANCEL = "CANCEL"
    CONGESTION = "CONGESTION"
    CHANUNAVAIL = "CHANUNAVAIL"
    DONTCALL = "DONTCALL"
    TORTURE = "TORTURE"
    INVALIDARGS = "INVALIDARGS"
    UNKNOWN = "UNKNOWN"

    @classmethod
    def parse(cls, raw: str) -> DialStatus:
        """The channel's DIALSTATUS; anything Dial() does not document becomes UNKNOWN."""
        try:
            return cls(raw.strip().upper())
        except ValueError:
            return cls.UNKNOWN


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A call the listener has decided; one row in ``calls``."""

    linkedid: str
    direction: Direction
    outcome: Outcome
    reason: str
    number: str  # exactly as received (inbound: caller; outbound: dialled)
    name: str
    number_key: str | None
    callable: bool
    did: str
    rang: tuple[str, ...]
    started_at: datetime
    ended_at: datetime
    ring_seconds: float
    reached_voicemail: bool
