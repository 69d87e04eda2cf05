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

The events are ``NamedTuple``s, not frozen dataclasses: equally immutable and typed, and built
three times faster (a frozen dataclass's ``__init__`` pays an ``object.__setattr__`` per field),
which counts at a dozen events per call (bench: ``python -m bench --only throughput``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any, NamedTuple

from callback_desk.core.exceptions import MalformedEvent


class Channel(NamedTuple):
    uniqueid: str
    linkedid: str
    name: str
    context: str
    exten: str
    caller_num: str
    caller_name: str


class Newchannel(NamedTuple):
    at: datetime
    channel: Channel


class Newstate(NamedTuple):
    at: datetime
    channel: Channel
    state: str


class Hangup(NamedTuple):
    at: datetime
    channel: Channel
    cause: str


class DialBegin(NamedTuple):
    at: datetime
    caller: Channel | None  # absent when an Originate dials with no calling channel
    dest: Channel
    dial_string: str


class DialEnd(NamedTuple):
    at: datetime
    caller: Channel | None
    dest: Channel
    status: str


class BridgeEnter(NamedTuple):
    at: datetime
    channel: Channel
    bridge_id: str
    technology: str


class BridgeLeave(NamedTuple):
    at: datetime
    channel: Channel
    bridge_id: str


class VarSet(NamedTuple):
    at: datetime
    uniqueid: str
    linkedid: str
    variable: str
    value: str


class AppStart(NamedTuple):
    """A dialplan application started on a channel (Newexten, or CEL APP_START)."""

    at: datetime
    uniqueid: str
    linkedid: str
    application: str


class QueueEvent(NamedTuple):
    """QueueCallerJoin / QueueCallerLeave / QueueCallerAbandon for the caller's channel."""

    at: datetime
    kind: str
    channel: Channel
    queue: str


class AgentConnect(NamedTuple):
    at: datetime
    channel: Channel  # the queue caller
    queue: str


class MessageWaiting(NamedTuple):
    at: datetime
    linkedid: str | None  # set only when a channel deposited or checked the message
    mailbox: str


class LinkedidEnd(NamedTuple):
    at: datetime
    linkedid: str


class FullyBooted(NamedTuple):
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


Frame = dict[str, str]


def _plain(headers: Headers) -> Frame:
    """Any other mapping (panoramisk's Message: any key case, a list for a repeated key) as the
    plain dict :func:`~callback_desk.core.amiframe.parse_frame` gives: lower-case keys, text."""
    return {str(key).lower(): header(headers, key) for key in headers}


def _required(h: Frame, key: str) -> str:
    value = h.get(key, "")
    if not value:
        raise MalformedEvent(f"{h.get('event') or 'frame'} without {key}")
    return value


# A Timestamp further than this from the moment the frame arrived is not believed: the receipt
# time stands in. A PBX clock at 1970 would file the call where the purge deletes it at once; one
# years ahead would keep it past every retention and on top of every report. ([listener]
# max_clock_skew; 0 trusts the PBX's clock, e.g. to replay a recorded day, within a century.)
MAX_CLOCK_SKEW = 24 * 3600.0
_CENTURY = 100 * 365.25 * 86400


def _stamp(raw: str | None, received_at: float, max_skew: float) -> tuple[float, bool]:
    """The event's epoch time, and whether the receipt time had to stand in for its own."""
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
_CALLER = tuple((*_CHANNEL_FIELDS, "calleridname"))
_DEST = tuple("dest" + name for name in _CALLER)
_BLANKS = ("",) * len(_CALLER)
assert Channel._fields == ("uniqueid", "linkedid", "name", "context", "exten", "caller_num",
                           "caller_name")  # fmt: skip


_READ_CALLER = itemgetter(*_CALLER)
_READ_DEST = itemgetter(*_DEST)


def _channel(h: Frame, keys: tuple[str, ...] = _CALLER) -> Channel:
    try:
        # Every field present (Asterisk sends them all): one C-level call builds the tuple.
        channel = tuple.__new__(Channel, (_READ_CALLER if keys is _CALLER else _READ_DEST)(h))
    except KeyError:
        # dict.get(key, "") for each field, straight into the tuple.
        channel = tuple.__new__(Channel, map(h.get, keys, _BLANKS))
    if not channel[0] or not channel[1]:
        _required(h, keys[0])
        _required(h, keys[1])
    return channel


def _optional_caller(h: Frame) -> Channel | None:
    return _channel(h) if h.get("uniqueid") else None


def _newexten(h: Frame, at: datetime) -> AppStart | None:
    app = h.get("application")
    if not app:
        return None
    return AppStart(at, _required(h, "uniqueid"), _required(h, "linkedid"), app)


def _varset(h: Frame, at: datetime) -> VarSet | None:
    variable = h.get("variable", "")
    if variable not in VARIABLES:
        return None
    return VarSet(
        at, _required(h, "uniqueid"), _required(h, "linkedid"), variable, h.get("value", "")
    )


def _cel(h: Frame, at: datetime) -> LinkedidEnd | AppStart | None:
    name = h.get("eventname")
    if name == "LINKEDID_END":
        return LinkedidEnd(at, _required(h, "linkedid"))
    if name == "APP_START":
        return AppStart(
            at,
            _required(h, "uniqueid"),
            _required(h, "linkedid"),
            h.get("application") or h.get("appname", ""),
        )
    return None


def _message_waiting(h: Frame, at: datetime) -> MessageWaiting:
    return MessageWaiting(at, h.get("linkedid") or None, h.get("mailbox", ""))


def _fully_booted(h: Frame, at: datetime) -> FullyBooted:
    raw = h.get("uptime", "")
    # isdigit() alone admits "²" and other digits int() refuses.
    return FullyBooted(at, int(raw) if raw.isascii() and raw.isdigit() else None)


def _queue(kind: str) -> Callable[[Frame, datetime], QueueEvent]:
    def parse(h: Frame, at: datetime) -> QueueEvent:
        return QueueEvent(at, kind, _channel(h), h.get("queue", ""))

    return parse


_PARSERS: dict[str, Callable[[Frame, datetime], Event | None]] = {
    "newchannel": lambda h, at: Newchannel(at, _channel(h)),
    "newstate": lambda h, at: Newstate(at, _channel(h), h.get("channelstatedesc", "")),
    "hangup": lambda h, at: Hangup(at, _channel(h), h.get("cause", "")),
    "dialbegin": lambda h, at: DialBegin(
        at, _optional_caller(h), _channel(h, _DEST), h.get("dialstring", "")
    ),
    "dialend": lambda h, at: DialEnd(
        at, _optional_caller(h), _channel(h, _DEST), h.get("dialstatus", "")
    ),
    "bridgeenter": lambda h, at: BridgeEnter(
        at, _channel(h), _required(h, "bridgeuniqueid"), h.get("bridgetechnology", "")
    ),
    "bridgeleave": lambda h, at: BridgeLeave(at, _channel(h), _required(h, "bridgeuniqueid")),
    "varset": _varset,
    "newexten": _newexten,
    "queuecallerjoin": _queue("join"),
    "queuecallerleave": _queue("leave"),
    "queuecallerabandon": _queue("abandon"),
    "agentconnect": lambda h, at: AgentConnect(at, _channel(h), h.get("queue", "")),
    "messagewaiting": _message_waiting,
    "cel": _cel,
    "fullybooted": _fully_booted,
}


# The same, under the names as Asterisk spells them: found without lower() per frame.
_BY_NAME = {name: _PARSERS[name.lower()] for name in SUBSCRIBED if name.lower() in _PARSERS}
assert len(_BY_NAME) == len(_PARSERS)


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
    """:func:`parse`, and whether the frame's own Timestamp was replaced by ``received_at``.

    A plain ``dict`` is taken to be :func:`~callback_desk.core.amiframe.parse_frame`'s (lower-case
    keys, text values) and read as it is: the listener's path, once per frame. Any other
    mapping is copied into that shape first.
    """
    h = headers if type(headers) is dict else _plain(headers)
    name = h.get("event", "")
    parser = _BY_NAME.get(name) or _PARSERS.get(name.lower())
    if parser is None:
        return None, False
    raw = h.get("timestamp")
    stamp, skewed = _stamp(raw, received_at, max_skew) if raw else (received_at, False)
    return parser(h, _moment(stamp)), skewed


@lru_cache(maxsize=64)
def _moment(stamp: float) -> datetime:
    """The UTC datetime of an epoch time, made once for the events that share it (the frames of
    one read share their receipt time): datetimes are immutable."""
    return datetime.fromtimestamp(stamp, UTC)
