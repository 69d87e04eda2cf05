"""AMI streams for the benchmarks, built from the calls recorded on a real Asterisk 22.

A PBX does not send six tidy frames per call: the recorded traces (``tests/data/*.ami``) carry
about a hundred frames per call, most of them noise the listener must read and drop (VarSet,
Newexten, CEL, DeviceStateChange, RTCP, Cdr...). Each trace becomes a template; call ``k`` is
that template with its own Uniqueids/Linkedid, channel names, bridge ids, phone numbers and
timestamps, so every call has a distinct caller number (no cache that always hits) and its
frames keep the relative timing Asterisk gave them.

``compact`` calls (6 frames + 4 VarSet) are for the million-call memory run, where the recorded
shapes would take an hour to stream; 1 % of them never end, as a PBX crash leaves them.
Pure: no sockets, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from ami_listener import events as ev
from ami_listener.tracker import CallTracker, TrackerConfig
from callback_desk.core.ami import parse_frame
from fakes.ami_server import load_trace
from fakes.frames import event, missed_call

# Every recorded scenario, each as often: answered, voicemail, missed in every way, internal,
# outbound, a withheld number and a hostile caller name.
TRACES = (
    "direct_answered.ami",
    "direct_hangup_ringing.ami",
    "direct_greeting_hangup.ami",
    "direct_voicemail_left.ami",
    "ringgroup_one_answers.ami",
    "ringgroup_nobody.ami",
    "queue_abandon.ami",
    "ivr_hangup.ami",
    "internal_call.ami",
    "outbound_answered.ami",
    "anonymous.ami",
    "hostile_callerid.ami",
)

# Asterisk ids as recorded: Uniqueid/Linkedid "<epoch>.<n>", channel suffixes "-0000001a",
# bridge UUIDs, the lab's fictional 555 numbers. Timestamps (6 decimals) are matched by line.
_TIMESTAMP = re.compile(r"^Timestamp: (\d+\.\d+)(?=\r?$)", re.MULTILINE)
_ID = re.compile(
    r"(?P<uid>\b\d{10}\.\d{1,5}\b)"
    r"|(?P<uuid>\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b)"
    r"|(?P<chan>(?<=-)[0-9a-f]{8}\b)"
    r"|(?P<num>\+1555\d{7})"
)


@dataclass(frozen=True, slots=True)
class Template:
    """One recorded call with its variable parts as ``str.format`` fields."""

    name: str
    frames: tuple[str, ...]
    offsets: tuple[float, ...]  # seconds after the call's first frame
    last_hangup: int  # index of the call's last Hangup frame: "the caller hung up"
    root: str  # field name of the Linkedid

    @property
    def duration(self) -> float:
        return self.offsets[-1]


def _template(name: str) -> Template:
    frames: list[str] = []
    offsets: list[float] = []
    fields: dict[tuple[str, str], str] = {}
    first: float | None = None

    def field(kind: str, value: str) -> str:
        key = (kind, value)
        if key not in fields:
            fields[key] = f"{kind}{sum(1 for k in fields if k[0] == kind)}"
        return "{" + fields[key] + "}"

    for raw in load_trace(name):
        stamp = _TIMESTAMP.search(raw)
        at = float(stamp.group(1)) if stamp else (first or 0.0)
        first = at if first is None else first
        text = raw.replace("{", "{{").replace("}", "}}")
        text = _TIMESTAMP.sub("Timestamp: {t}", text)
        text = _ID.sub(lambda m: field(m.lastgroup or "", m.group(0)), text)
        frames.append(text)
        offsets.append(at - first)
    hangups = [i for i, f in enumerate(frames) if f.startswith("Event: Hangup\r\n")]
    root = fields.get(("uid", _first_linkedid(name)), "uid0")
    return Template(name, tuple(frames), tuple(offsets), hangups[-1], root)


def _first_linkedid(name: str) -> str:
    for frame in load_trace(name):
        match = re.search(r"^Linkedid: (.+)$", frame, re.MULTILINE)
        if match:
            return match.group(1).strip()
    raise ValueError(f"{name}: no Linkedid")


@cache
def templates() -> tuple[Template, ...]:
    return tuple(_template(name) for name in TRACES)


def _values(k: int, at: float) -> dict[str, str]:
    """The fields of call ``k``: ids unique across every stream a benchmark run sends."""
    values = {"t": f"{at:.6f}"}
    for j in range(8):
        values[f"uid{j}"] = f"{1_800_000_000 + k}.{j}"
        values[f"uuid{j}"] = f"{k:08x}-0000-4000-8000-{j:012x}"
        values[f"chan{j}"] = f"{(k * 8 + j) & 0xFFFFFFFF:08x}"
        # Distinct callers: 212/646 numbers, one per call (the phone-number cache never hits).
        values[f"num{j}"] = f"+1{(212, 646, 718, 917)[j % 4]}{2_000_000 + k % 7_000_000:07d}"
    return values


@dataclass(frozen=True, slots=True)
class Call:
    linkedid: str
    frames: tuple[tuple[float, str], ...]  # (seconds after the call starts, frame)
    hangup: int  # index of the last Hangup frame


def call(k: int, start: float) -> Call:
    """Call ``k`` of a stream: template ``k mod 12``, its first frame stamped ``start``."""
    tpl = templates()[k % len(TRACES)]
    values = _values(k, start)
    frames = []
    for text, offset in zip(tpl.frames, tpl.offsets, strict=True):
        values["t"] = f"{start + offset:.6f}"
        frames.append((offset, text.format_map(values)))
    return Call(values[tpl.root], tuple(frames), tpl.last_hangup)


def burst(calls: int, first: int, start: float) -> Iterator[str]:
    """Frames of ``calls`` recorded-shape calls back to back (as fast as the socket takes),
    stamped from ``start`` (epoch seconds) on, 10 ms apart."""
    for n, k in enumerate(range(first, first + calls)):
        for _, frame in call(k, start + n * 0.01).frames:
            yield frame


def compact(calls: int, first: int = 0, never_end_every: int = 100) -> Iterator[str]:
    """Six-frame missed calls plus four VarSet each; every ``never_end_every``-th never ends."""
    for k in range(first, first + calls):
        linked = f"{1_900_000_000 + k}.0"
        frames = missed_call(linked, num=f"+1212{2_000_000 + k % 7_000_000:07d}")
        if never_end_every and k % never_end_every == never_end_every - 1:
            frames = frames[:3]  # rang, then nothing: a call whose end the PBX never sent
        yield from frames
        yield from _noise(linked)


def _noise(linked: str) -> list[str]:
    return [
        event(
            "VarSet",
            Channel=f"PJSIP/trunk-{linked}",
            Uniqueid=linked,
            Linkedid=linked,
            Variable=variable,
            Value=value,
        )
        for variable, value in (
            ("RTPAUDIOQOS", "ssrc=1;themssrc=2;lp=0;rxjitter=0.000000;rxcount=512"),
            ("BRIDGEPEER", ""),
            ("DIALEDPEERNUMBER", "100@phones"),
            ("MACRO_DEPTH", "0"),
        )
    ]


def compact_rows(calls: int, first: int = 0, never_end_every: int = 100) -> int:
    """Rows the compact calls ``first..first+calls`` leave once decided (ended calls only)."""
    if not never_end_every:
        return calls
    never = sum(
        1 for k in range(first, first + calls) if k % never_end_every == never_end_every - 1
    )
    return calls - never


@cache
def rows_per_template() -> tuple[int, ...]:
    """How many rows each recorded call leaves, decided by the real parser and tracker
    (internal calls none) — the count a benchmark waits for before it stops the clock."""
    rows = []
    for i in range(len(TRACES)):
        tracker = CallTracker(
            TrackerConfig(inbound_contexts=frozenset({"from-pstn"}), country="US", settle_seconds=0)
        )
        decided = 0
        for _, frame in call(i, 1_800_000_000.0).frames:
            parsed = ev.parse(parse_frame(frame.strip("\r\n")), 0.0)
            if parsed is not None:
                decided += len(tracker.feed(parsed, 0.0))
        decided += len(tracker.due(10**9))
        rows.append(decided)
    return tuple(rows)


def rows(calls: int, first: int = 0) -> int:
    """Rows the recorded-shape calls ``first..first+calls`` leave."""
    per = rows_per_template()
    return sum(per[k % len(per)] for k in range(first, first + calls))


def frames(shape: str, calls: int, first: int = 0) -> int:
    """Frames in a burst of ``shape`` (bench.feed's burst shapes) for calls ``first..``."""
    if shape == "recorded":
        return sum(len(call(k, 0).frames) for k in range(first, first + calls))
    if shape == "dense":
        return sum(1 for _ in compact(calls, first, never_end_every=0))
    return sum(1 for _ in compact(calls, first))


def shape_rows(shape: str, calls: int, first: int = 0) -> int:
    """Rows a burst of ``shape`` leaves once every call in it is decided."""
    if shape == "recorded":
        return rows(calls, first)
    return compact_rows(calls, first, never_end_every=0 if shape == "dense" else 100)
