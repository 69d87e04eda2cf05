"""A morning at the practice, made of calls recorded in the lab (``data/*.ami``). Pure.

Each trace holds one real call as Asterisk sent it over AMI. To play several as one morning,
each is moved to its time of day: ``Timestamp`` headers (and ``YYYY-MM-DD HH:MM:SS`` values)
shift by the same amount, channel and bridge ids are renamed so that a trace played twice is two
calls, and a trace can be replayed as another caller (the repeat caller who later got through).
The lab's callers (+1 555-010-00xx: area code 555 does not exist, so no phone number library
calls them valid and no callback policy may dial them) become valid numbers reserved for
fiction (:data:`FICTIONAL`). Nothing else in the frames changes.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

# Headers that carry a channel id (Uniqueid/Linkedid, prefixed with Dest on the dialled leg).
_CHANNEL_IDS = frozenset({"uniqueid", "linkedid", "destuniqueid", "destlinkedid"})
_BRIDGE_IDS = frozenset({"bridgeuniqueid"})
_WALL_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


# The lab's numbers -> numbers in New York's area code 212 that can never ring anyone: NANPA
# reserves 555-0100 through 555-0199 in every area code for fictional use, and phonenumbers
# holds them valid (fixed line or mobile), so the one callback policy (agi.policy) allows them
# and the demo's "Call from my desk phone" goes as far as the (simulated) phone system.
FICTIONAL = {
    "+15550100001": "+12125550101",
    "+15550100002": "+12125550102",
    "+15550100003": "+12125550103",
    "+15550100004": "+12125550104",
    "+15550100005": "+12125550105",
    "+15550100006": "+12125550106",
    "+15550100007": "+12125550107",
    "+15550100008": "+12125550108",
    "+15557654321": "+12125550199",  # whom desk 100 calls out to
}
# The practice's own neutral number for callbacks ([agi] callback_number), fictional too.
CALLBACK_NUMBER = "+12125550100"


@dataclass(frozen=True)
class DemoCall:
    at: time  # practice time of day
    trace: str  # file in data/
    who: str  # what the terminal shows for the caller
    line: str  # what the terminal shows for where the call went
    # Replay the trace as another caller: (number, name) in the trace -> (number, name).
    caller: tuple[tuple[str, str], tuple[str, str]] | None = None
    recorded: bool = True  # False: an internal call, never stored


MORNING: tuple[DemoCall, ...] = (
    DemoCall(time(8, 2), "direct_answered.ami", "Alice Answered", "2000 direct line"),
    DemoCall(time(8, 9), "direct_hangup_ringing.ami", "Rita Ringing", "2000 direct line"),
    DemoCall(time(8, 17), "direct_greeting_hangup.ami", "Greta Greeting", "2000 direct line"),
    DemoCall(time(8, 26), "ringgroup_nobody.ami", "Nora Nobody", "2001 ring group"),
    DemoCall(time(8, 34), "direct_voicemail_left.ami", "Vera Voicemail", "2000 direct line"),
    DemoCall(time(8, 48), "queue_abandon.ami", "Quinn Queue", "2002 queue"),
    DemoCall(time(9, 5), "internal_call.ami", "desk 100", "desk 101 (internal)", recorded=False),
    DemoCall(time(9, 13), "ivr_hangup.ami", "Ivy Menu", "2003 IVR"),
    DemoCall(time(9, 27), "anonymous.ami", "(withheld)", "2000 direct line"),
    DemoCall(time(9, 40), "ringgroup_one_answers.ami", "Gary Group", "2001 ring group"),
    DemoCall(time(9, 52), "ringgroup_nobody.ami", "Nora Nobody, again", "2001 ring group"),
    DemoCall(time(10, 15), "outbound_answered.ami", "desk 100", "(212) 555-0199 (outbound)"),
    DemoCall(
        time(10, 31),
        "direct_answered.ami",
        "Rita Ringing, again",
        "2000 direct line",
        caller=(("+12125550101", "Alice Answered"), ("+12125550102", "Rita Ringing")),
    ),
)
# When the morning report is read, practice time.
REPORT_AT = time(11, 45)


def morning_day(now: datetime) -> date:
    """The latest weekday whose morning (up to REPORT_AT) is over at ``now`` (practice time)."""
    day = now.date()
    if now.time() < REPORT_AT:
        day -= timedelta(days=1)
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def load_trace(name: str) -> list[str]:
    """The trace's event frames (CRLF line ends, no banner, no login response)."""
    text = resources.files("callback_desk.demo").joinpath("data", name).read_text("utf-8")
    frames = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        if lines and lines[0].startswith("Event: "):
            frames.append("\r\n".join(lines) + "\r\n\r\n")
    return frames


def _headers(frame: str) -> list[tuple[str, str]]:
    pairs = []
    for line in frame.rstrip("\r\n").split("\r\n"):
        key, _sep, value = line.partition(": ")
        pairs.append((key, value))
    return pairs


@dataclass
class Rewriter:
    """Moves a trace to ``start`` and gives its channels fresh ids (``<epoch>.<n>``)."""

    start: datetime
    sequence: int
    caller: tuple[tuple[str, str], tuple[str, str]] | None = None
    ids: dict[str, str] = field(default_factory=dict)
    bridges: dict[str, str] = field(default_factory=dict)
    shift: float | None = None

    def frames(self, frames: list[str]) -> list[str]:
        return [self.frame(frame) for frame in frames]

    def frame(self, frame: str) -> str:
        for lab, fictional in FICTIONAL.items():
            frame = frame.replace(lab, fictional)
        if self.caller is not None:
            (old_num, old_name), (new_num, new_name) = self.caller
            frame = frame.replace(old_num, new_num).replace(old_name, new_name)
        lines = []
        for key, value in _headers(frame):
            lines.append(f"{key}: {self.value(key.lower(), value)}")
        return "\r\n".join(lines) + "\r\n\r\n"

    def value(self, key: str, value: str) -> str:
        if key == "timestamp" and value:
            if self.shift is None:
                self.shift = self.start.timestamp() - float(value)
            return f"{float(value) + self.shift:.6f}"
        if key in _CHANNEL_IDS and value:
            if value not in self.ids:
                self.sequence += 1
                self.ids[value] = f"{int(self.start.timestamp())}.{self.sequence}"
            return self.ids[value]
        if key in _BRIDGE_IDS and value:
            return self.bridges.setdefault(value, str(uuid.uuid4()))
        if self.shift is not None and _WALL_TIME.fullmatch(value):
            moved = datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp() + self.shift
            return datetime.fromtimestamp(moved, UTC).strftime("%Y-%m-%d %H:%M:%S")
        return value


@dataclass(frozen=True)
class PlannedCall:
    call: DemoCall
    start: datetime
    linkedid: str  # the call's Linkedid after renaming: how the listener's row is found
    frames: list[str]


def plan(day: date, tz: ZoneInfo) -> list[PlannedCall]:
    """Every call of the morning on ``day``, ready to send, in order."""
    planned = []
    sequence = 0
    for call in MORNING:
        start = datetime.combine(day, call.at, tz)
        rewriter = Rewriter(start, sequence, call.caller)
        frames = rewriter.frames(load_trace(call.trace))
        sequence = rewriter.sequence
        first = {key.lower(): value for key, value in _headers(frames[0])}
        planned.append(PlannedCall(call, start, first.get("linkedid", ""), frames))
    return planned
