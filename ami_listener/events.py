"""Parse AMI frames into frozen, typed events. Pure: no I/O, no clock of its own.

Facts this relies on (Asterisk 22; docs/listener.md, tests/lab/NOTES.md):
- every channel snapshot carries ``Uniqueid`` and ``Linkedid``; DialBegin/DialEnd carry the
  caller's snapshot unprefixed and the called leg's prefixed with ``Dest``;
- ``Timestamp`` (epoch seconds) is present when manager.conf has ``timestampevents=yes``;
  otherwise the listener's receive time stands in;
- CEL over AMI arrives as ``Event: CEL`` with ``EventName``, ``LinkedID`` and ``AppName``;
- header names are case-insensitive: :func:`parse` reads lower-case keys, which both our own
  frame parser (:func:`callback_desk.core.amiframe.parse_frame`) and panoramisk's Message answer to.

Only the events the call tracker needs are parsed; the rest return ``None`` cheaply.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from callback_desk.core.exceptions import MalformedEvent


@dataclass(frozen=True, slots=True)
class Channel:
    uniqueid: str
    linkedid: str
    name: str
    context: str
    exten: str
    caller_num: str
    caller_name: str


@dataclass(frozen=True, slots=True)
class Newchannel:
    at: datetime
    channel: Channel


@dataclass(frozen=True, slots=True)
class Newstate:
    at: datetime
    channel: Channel
    state: str


@dataclass(frozen=True, slots=True)
class Hangup:
    at: datetime
    channel: Channel
    cause: str


@dataclass(frozen=True, slots=True)
class DialBegin:
    at: datetime
    caller: Channel | None  # absent when an Originate dials with no calling channel
    dest: Channel
    dial_string: str


@dataclass(frozen=True, slots=True)
class DialEnd:
    at: datetime
    caller: Channel | None
    dest: Channel
    status: str


@dataclass(frozen=True, slots=True)
class BridgeEnter:
    at: datetime
    channel: Channel
    bridge_id: str
    technology: str


@dataclass(frozen=True, slots=True)
class BridgeLeave:
    at: datetime
    channel: Channel
    bridge_id: str


@dataclass(frozen=True, slots=True)
class VarSet:
    at: datetime
    uniqueid: str
    linkedid: str
    variable: str
    value: str


@dataclass(frozen=True, slots=True)
class AppStart:
    """A dialplan application started on a channel (Newexten, or CEL APP_START)."""

    at: datetime
    uniqueid: str
    linkedid: str
    application: str


@dataclass(frozen=True, slots=True)
class QueueEvent:
    """QueueCallerJoin / QueueCallerLeave / QueueCallerAbandon for the caller's channel."""

    at: datetime
    kind: str
    channel: Channel
    queue: str


@dataclass(frozen=True, slots=True)
class AgentConnect:
    at: datetime
    channel: Channel  # the queue caller
    queue: str


@dataclass(frozen=True, slots=True)
class MessageWaiting:
    at: datetime
    linkedid: str | None  # set only when a channel deposited or checked the message
    mailbox: str


@dataclass(frozen=True, slots=True)
class LinkedidEnd:
    at: datetime
    linkedid: str


@dataclass(frozen=True, slots=True)
class FullyBooted:
    """Sent after login; a low Uptime means Asterisk restarted while we were away."""

    at: datetime
    uptime: int | None


Event = (
    Newchannel
    | Newstate
    | Hangup
    | DialBegin
    | DialEnd
    | BridgeEnter
    | BridgeLeave
    | VarSet
    | AppStart
    | QueueEvent
    | AgentConnect
    | MessageWaiting
    | LinkedidEnd
    | FullyBooted
)

Headers = Mapping[str, Any]

# The routing table: the events the listener reads. Keep in sync with manager.conf.sample.
SUBSCRIBED = (
    "Newchannel",
    "Newstate",
    "Hangup",
    "DialBegin",
    "DialEnd",
    "BridgeEnter",
    "BridgeLeave",
    "VarSet",
    "Newexten",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueCallerAbandon",
    "AgentConnect",
    "MessageWaiting",
    "CEL",
    "FullyBooted",
)

# VarSet is the loudest event on any PBX; only these variables mean anything to us.
VARIABLES = frozenset({"VM_MESSAGEFILE", "VMSTATUS"})
# Raw text a frame of these events must contain to be worth parsing (AmiClient.fast_filters):
# every variable above starts with VM, and Asterisk writes the header as "Variable".
RAW_FILTERS = {"varset": "\r\nVariable: VM"}
assert all(name.startswith("VM") for name in VARIABLES)


def header(headers: Headers, key: str) -> str:
    """A header's text ('' when absent); ``key`` must be lower-case."""
    value = headers.get(key)  # keys are written lower-case below: no .lower() per lookup
    if value is None:
        return ""
    if isinstance(value, list):
        value = value[-1] if value else ""
    return str(value)


def _required(headers: Headers, key: str) -> str:
    value = header(headers, key)
    if not value:
        raise MalformedEvent(f"{header(headers, 'event') or 'frame'} without {key}")
    return value


# A Timestamp further than this from the moment the frame arrived is not believed: the receipt
# time stands in. A PBX clock at 1970 would file the call where the purge deletes it at once; one
# years ahead would keep it past every retention and on top of every report. ([listener]
# max_clock_skew; 0 trusts the PBX's clock, e.g. to replay a recorded day, within a century.)
MAX_CLOCK_SKEW = 24 * 3600.0
_CENTURY = 100 * 365.25 * 86400


def _stamp(headers: Headers, received_at: float, max_skew: float) -> tuple[float, bool]:
    """The event's epoch time, and whether the receipt time had to stand in for its own."""
    raw = header(headers, "timestamp")
    if not raw:
        return received_at, False
    try:
        stamp = float(raw)
    except ValueError:
        return received_at, True
    limit = max_skew or _CENTURY
    # NaN fails both comparisons, so it is replaced too.
    if not received_at - limit <= stamp <= received_at + limit:
        return received_at, True
    return stamp, False


_CHANNEL_FIELDS = ("uniqueid", "linkedid", "channel", "context", "exten", "calleridnum")
# Header names per prefix, built once: a channel snapshot is read from most frames we parse.
_CHANNEL_KEYS = {
    prefix: tuple(prefix + name for name in (*_CHANNEL_FIELDS, "calleridname"))
    for prefix in ("", "dest")
}


def _channel(headers: Headers, prefix: str = "") -> Channel:
    get = headers.get
    values = []
    for key in _CHANNEL_KEYS[prefix]:
        value = get(key)
        # Our own frame parser gives str; panoramisk's Message may give a list (repeated key).
        values.append(value if type(value) is str else header(headers, key))
    if not values[0]:
        _required(headers, prefix + "uniqueid")
    if not values[1]:
        _required(headers, prefix + "linkedid")
    return Channel(*values)


def _optional_caller(headers: Headers) -> Channel | None:
    return _channel(headers) if header(headers, "uniqueid") else None


def _newexten(h: Headers, at: datetime) -> AppStart | None:
    app = header(h, "application")
    if not app:
        return None
    return AppStart(at, _required(h, "uniqueid"), _required(h, "linkedid"), app)


def _varset(h: Headers, at: datetime) -> VarSet | None:
    variable = header(h, "variable")
    if variable not in VARIABLES:
        return None
    return VarSet(
        at, _required(h, "uniqueid"), _required(h, "linkedid"), variable, header(h, "value")
    )


def _cel(h: Headers, at: datetime) -> LinkedidEnd | AppStart | None:
    name = header(h, "eventname")
    if name == "LINKEDID_END":
        return LinkedidEnd(at, _required(h, "linkedid"))
    if name == "APP_START":
        return AppStart(
            at,
            _required(h, "uniqueid"),
            _required(h, "linkedid"),
            header(h, "application") or header(h, "appname"),
        )
    return None


def _message_waiting(h: Headers, at: datetime) -> MessageWaiting:
    return MessageWaiting(at, header(h, "linkedid") or None, header(h, "mailbox"))


def _fully_booted(h: Headers, at: datetime) -> FullyBooted:
    raw = header(h, "uptime")
    # isdigit() alone admits "²" and other digits int() refuses.
    return FullyBooted(at, int(raw) if raw.isascii() and raw.isdigit() else None)


def _queue(kind: str) -> Callable[[Headers, datetime], QueueEvent]:
    def parse(h: Headers, at: datetime) -> QueueEvent:
        return QueueEvent(at, kind, _channel(h), header(h, "queue"))

    return parse


_PARSERS: dict[str, Callable[[Headers, datetime], Event | None]] = {
    "newchannel": lambda h, at: Newchannel(at, _channel(h)),
    "newstate": lambda h, at: Newstate(at, _channel(h), header(h, "channelstatedesc")),
    "hangup": lambda h, at: Hangup(at, _channel(h), header(h, "cause")),
    "dialbegin": lambda h, at: DialBegin(
        at, _optional_caller(h), _channel(h, "dest"), header(h, "dialstring")
    ),
    "dialend": lambda h, at: DialEnd(
        at, _optional_caller(h), _channel(h, "dest"), header(h, "dialstatus")
    ),
    "bridgeenter": lambda h, at: BridgeEnter(
        at, _channel(h), _required(h, "bridgeuniqueid"), header(h, "bridgetechnology")
    ),
    "bridgeleave": lambda h, at: BridgeLeave(at, _channel(h), _required(h, "bridgeuniqueid")),
    "varset": _varset,
    "newexten": _newexten,
    "queuecallerjoin": _queue("join"),
    "queuecallerleave": _queue("leave"),
    "queuecallerabandon": _queue("abandon"),
    "agentconnect": lambda h, at: AgentConnect(at, _channel(h), header(h, "queue")),
    "messagewaiting": _message_waiting,
    "cel": _cel,
    "fullybooted": _fully_booted,
}


def parse(headers: Headers, received_at: float, max_skew: float = MAX_CLOCK_SKEW) -> Event | None:
    """The typed event for an AMI frame, or None for frames the tracker ignores.

    ``received_at`` (epoch seconds) stands in when the frame has no ``Timestamp``, or one
    further than ``max_skew`` from it (see MAX_CLOCK_SKEW).

    Raises :class:`MalformedEvent` when a header the event needs is missing.
    """
    return parse_checked(headers, received_at, max_skew)[0]


def parse_checked(
    headers: Headers, received_at: float, max_skew: float = MAX_CLOCK_SKEW
) -> tuple[Event | None, bool]:
    """:func:`parse`, and whether the frame's own Timestamp was replaced by ``received_at``."""
    parser = _PARSERS.get(header(headers, "event").lower())
    if parser is None:
        return None, False
    stamp, skewed = _stamp(headers, received_at, max_skew)
    return parser(headers, datetime.fromtimestamp(stamp, UTC)), skewed
