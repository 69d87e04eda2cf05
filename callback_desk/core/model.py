"""Plain values shared by the listener, the store and the reports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Direction = Literal["inbound", "outbound"]
Outcome = Literal["answered", "voicemail", "missed"]


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
