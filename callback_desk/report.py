"""Missed-call reports: who is still waiting for a callback. Pure formatting, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from callback_desk.model import MissedCaller


def iso(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).isoformat(timespec="seconds")


def missed_json(callers: Sequence[MissedCaller], tz: ZoneInfo) -> dict[str, Any]:
    """``{"missed": [...]}``: one entry per caller awaiting a callback, most recent first."""
    return {
        "missed": [
            {
                "number": c.number_key if c.callable and c.number_key else c.number,
                "number_as_received": c.number,
                "name": c.name,
                "calls": c.calls,
                "first_at": iso(c.first_at, tz),
                "last_at": iso(c.last_at, tz),
                "reached_voicemail": c.reached_voicemail,
                "did": c.did,
                "reason": c.reason,
                "callable": c.callable,
                "last_call_id": c.last_call_id,
            }
            for c in callers
        ]
    }
