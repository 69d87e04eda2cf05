"""Plain values shared by the listener, the store and the reports, and the codes they store.

Each ``StrEnum`` below is the vocabulary of one column; the CHECK constraints of
``sql/0006_vocabulary.sql`` admit exactly these values (tests/db/test_schema.py compares them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Outcome(StrEnum):
    """How a call ended (``calls.outcome``)."""

    ANSWERED = "answered"
    VOICEMAIL = "voicemail"  # the caller left a message
    MISSED = "missed"  # nobody answered and no message: someone should call back


class Reason(StrEnum):
    """Why the listener decided an outcome (``calls.reason``)."""

    ANSWERED = "answered"
    VOICEMAIL_LEFT = "voicemail_left"
    VOICEMAIL_GREETING = "voicemail_greeting"  # heard the greeting, hung up without a message
    QUEUE_ABANDONED = "queue_abandoned"
    HANGUP_WHILE_RINGING = "hangup_while_ringing"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    UNAVAILABLE = "unavailable"
    IVR_HANGUP = "ivr_hangup"
    HANGUP_BEFORE_RINGING = "hangup_before_ringing"
    UNKNOWN_END = "unknown_end"  # no end seen before max_call_seconds
    # Written by reconciliation from the PBX's CDR/CEL (ami_listener/cdr.py), which know less:
    RECONCILED_VOICEMAIL_UNKNOWN = "reconciled_voicemail_unknown"  # message left or not: unknown
    RECONCILED_UNANSWERED = "reconciled_unanswered"  # rang, nobody answered; hung up or rang out


class ReturnedHow(StrEnum):
    """How a missed call was returned (``missed_calls.returned_how``, computed by the view as
    direction_outcome, 'callback_answered' or 'marked_' || disposition)."""

    INBOUND_ANSWERED = "inbound_answered"
    INBOUND_VOICEMAIL = "inbound_voicemail"
    OUTBOUND_ANSWERED = "outbound_answered"
    OUTBOUND_VOICEMAIL = "outbound_voicemail"
    CALLBACK_ANSWERED = "callback_answered"
    MARKED_HANDLED = "marked_handled"
    MARKED_NEVER = "marked_never"


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
    reason: Reason
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
