"""Decide, per call, whether a person answered, a voicemail was left, or the caller was missed.

Pure logic: events in, :class:`~callback_desk.core.model.CallRecord` out; the caller supplies a
monotonic ``now`` so settle windows and expiry are testable without sleeping.

A call is everything sharing one ``Linkedid``. It opens on the root channel's Newchannel
(Uniqueid == Linkedid) and is over when all its channels have hung up, or on CEL LINKEDID_END.
It is then decided after a settle window, because MessageWaiting travels on another Stasis
topic and may trail the last Hangup.

What counts (docs/listener.md, "The Asterisk behaviour behind the rules"); the outcome and
its reason are then decided from this evidence by ``ami_listener/decision.py``:
- answered: DialEnd ANSWER on any leg, AgentConnect, or a non-holding bridge holding two
  channels of the call. The trunk channel going Up is *not* an answer (IVRs, queues and
  VoiceMail answer it). DialEnd CANCEL is ambiguous and only colours the reason.
- voicemail left: VarSet VM_MESSAGEFILE non-empty, or MessageWaiting carrying the Linkedid.
  VMSTATUS=SUCCESS is not proof (greeting-only boxes, zero-second messages).
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from typing import Any

from ami_listener import events as ev
from ami_listener.decision import Evidence, decide
from callback_desk.core import phone
from callback_desk.core.model import CallRecord, DialStatus, Direction, Outcome, Reason

_MAX_RANG = 16  # dial strings kept per call; a runaway loop must not grow memory

# How _Call fields travel in a snapshot (JSON): datetimes as ISO text, sets and tuples as lists.
_DATETIMES = frozenset({"started_at", "last_at", "ring_started", "ring_ended", "ended_at"})
_SETS = frozenset({"channels", "ringing"})
_FROZENSETS = frozenset({"dial_statuses", "bridges"})

# Memory per open call counts (up to max_open_calls of them, most never ending after a PBX
# crash): fields most calls never fill start as the one shared empty frozenset (a set costs 216
# bytes even empty) or the empty tuple, and are replaced when they get a value; texts that
# repeat from call to call (caller names, DIDs, dial strings) are kept once, up to _SHARED_MAX.
_NONE: frozenset[str] = frozenset()
_SHARED_MAX = 4096


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    inbound_contexts: frozenset[str]
    country: str
    settle_seconds: float = 2.0
    max_call_seconds: float = 12 * 3600.0
    max_open_calls: int = 5000  # [listener] max_open_calls (config.py says why)


@dataclass(slots=True)
class _Call:
    linkedid: str
    opened: float  # monotonic
    started_at: datetime
    last_at: datetime
    number: str
    name: str
    exten: str
    inbound: bool
    channels: set[str] = field(default_factory=set)
    answered: bool = False
    voicemail_left: bool = False
    reached_voicemail: bool = False
    reached_queue: bool = False
    root_up: bool = False
    root_hung_up_while_ringing: bool = False
    ringing: set[str] = field(default_factory=set)
    ring_started: datetime | None = None
    ring_ended: datetime | None = None
    dial_statuses: frozenset[str] = _NONE
    rang: tuple[str, ...] = ()
    ended_at: datetime | None = None
    settle_until: float | None = None
    end_unseen: bool = False  # its channels vanished while we were disconnected
    bridges: frozenset[str] = _NONE  # bridges its channels entered


class CallTracker:
    def __init__(self, config: TrackerConfig) -> None:
        self._cfg = config
        # Insertion order is opening order: the first entry is the oldest open call.
        self._calls: OrderedDict[str, _Call] = OrderedDict()
        self._channel_call: dict[str, str] = {}
        self._bridges: dict[str, set[str]] = {}
        # Heap of (deadline, sequence, linkedid); the sequence keeps calls that end together in
        # the order they ended. Stale entries (call reopened or gone) are skipped lazily.
        self._settling: list[tuple[float, int, str]] = []
        self._sequence = 0
        self._texts: dict[str, str] = {}  # see _shared

    # -- introspection (tests, metrics) -------------------------------------------------------

    @property
    def open_calls(self) -> int:
        return len(self._calls)

    @property
    def tracked_channels(self) -> int:
        return len(self._channel_call)

    @property
    def tracked_bridges(self) -> int:
        return len(self._bridges)

    def next_deadline(self) -> float | None:
        """When :meth:`due` next has work: the earliest settle end or expiry."""
        while self._settling:
            deadline, _, linkedid = self._settling[0]
            call = self._calls.get(linkedid)
            if call is not None and call.settle_until == deadline:
                break
            heapq.heappop(self._settling)
        candidates = [self._settling[0][0]] if self._settling else []
        if self._calls:
            oldest = next(iter(self._calls.values()))
            candidates.append(oldest.opened + self._cfg.max_call_seconds)
        return min(candidates, default=None)

    # -- input ---------------------------------------------------------------------------------

    def feed(self, event: ev.Event, now: float) -> list[CallRecord]:
        """Apply one event; returns calls decided because of it (only on overflow)."""
        # A table by type rather than a match ladder, where each event was tested against every
        # case above its own: a fifth of the tracker's time per call on the dense stream.
        handler = _HANDLERS.get(type(event))
        if handler is None:
            return []
        return handler(self, event, now) or []

    def _newchannel(self, event: ev.Newchannel, now: float) -> list[CallRecord]:
        return self._on_newchannel(event.at, event.channel, now)

    def _hangup(self, event: ev.Hangup, now: float) -> None:
        self._on_hangup(event.at, event.channel, now)

    def _newstate(self, event: ev.Newstate, now: float) -> None:
        channel = event.channel
        call = self._touch(event.at, channel)
        if call and channel.uniqueid == call.linkedid and event.state == "Up":
            call.root_up = True

    def _dial_begin(self, event: ev.DialBegin, now: float) -> None:
        self._on_dial_begin(event.at, event.caller, event.dest, event.dial_string)

    def _dial_end(self, event: ev.DialEnd, now: float) -> None:
        self._on_dial_end(event.at, event.caller, event.dest, event.status)

    def _bridge_enter(self, event: ev.BridgeEnter, now: float) -> None:
        self._on_bridge_enter(event.at, event.channel, event.bridge_id, event.technology)

    def _bridge_leave(self, event: ev.BridgeLeave, now: float) -> None:
        channel = event.channel
        self._touch(event.at, channel)
        members = self._bridges.get(event.bridge_id)
        if members is not None:
            members.discard(channel.uniqueid)
            if not members:
                del self._bridges[event.bridge_id]

    def _var_set(self, event: ev.VarSet, now: float) -> None:
        call = self._call(event.linkedid, event.at)
        if call:
            call.reached_voicemail = True
            if event.variable == "VM_MESSAGEFILE" and event.value.strip():
                call.voicemail_left = True

    def _app_start(self, event: ev.AppStart, now: float) -> None:
        call = self._call(event.linkedid, event.at)
        if call and event.application.lower() == "voicemail":
            call.reached_voicemail = True

    def _queue_event(self, event: ev.QueueEvent, now: float) -> None:
        call = self._touch(event.at, event.channel)
        if call and event.kind == "join":
            call.reached_queue = True
            call.ring_started = call.ring_started or event.at

    def _agent_connect(self, event: ev.AgentConnect, now: float) -> None:
        call = self._touch(event.at, event.channel)
        if call:
            call.answered = True

    def _message_waiting(self, event: ev.MessageWaiting, now: float) -> None:
        call = self._call(event.linkedid, event.at) if event.linkedid else None
        if call:
            call.voicemail_left = True
            call.reached_voicemail = True

    def _linkedid_end(self, event: ev.LinkedidEnd, now: float) -> None:
        call = self._call(event.linkedid, event.at)
        if call:
            self._end(call, event.at, now)

    def due(self, now: float) -> list[CallRecord]:
        """Decide every call whose settle window has passed or that outlived its bound."""
        decided: list[CallRecord] = []
        while self._settling and self._settling[0][0] <= now:
            deadline, _, linkedid = heapq.heappop(self._settling)
            call = self._calls.get(linkedid)
            if call is not None and call.settle_until == deadline:
                decided.extend(self._decide(call))
        while self._calls:
            oldest = next(iter(self._calls.values()))
            if oldest.opened + self._cfg.max_call_seconds > now:
                break
            decided.extend(self._decide(oldest, unknown_end=True))
        return decided

    def reconcile(self, live: frozenset[str], now: float) -> int:
        """Forget channels the PBX no longer has (their Hangup was lost while disconnected).

        ``live`` is every channel Uniqueid the PBX reports now (CoreShowChannels). A call left
        with no channel is over; its end was not seen, so a missed one gets ``unknown_end``.
        Returns how many calls this closed.
        """
        for uid, linkedid in list(self._channel_call.items()):
            if uid in live:
                continue
            del self._channel_call[uid]
            call = self._calls.get(linkedid)
            if call is not None:
                call.channels.discard(uid)
                call.ringing.discard(uid)
        closed = 0
        for call in list(self._calls.values()):
            if not call.channels and call.ended_at is None:
                call.end_unseen = True
                self._end(call, call.last_at, now)
                closed += 1
        return closed

    def flush_ended(self) -> list[CallRecord]:
        """Decide every call that is already over without waiting out its settle window."""
        decided: list[CallRecord] = []
        for call in [c for c in self._calls.values() if c.ended_at is not None]:
            decided.extend(self._decide(call))
        return decided

    def abandon_all(self, reason_unknown: bool = True) -> list[CallRecord]:
        """Decide every open call now: the PBX restarted, or we are shutting down.

        Calls already over (settling) are decided normally; calls still in progress get the
        ``unknown_end`` reason when ``reason_unknown``.
        """
        decided: list[CallRecord] = []
        for call in list(self._calls.values()):
            decided.extend(self._decide(call, unknown_end=reason_unknown and call.ended_at is None))
        self._settling.clear()
        self._bridges.clear()
        return decided

    # -- across a restart ----------------------------------------------------------------------

    def snapshot(self, now: float) -> list[dict[str, Any]]:
        """Every open call as plain JSON-able values, oldest first (see :meth:`restore`).

        ``opened`` becomes the call's age in seconds, since monotonic clocks do not survive a
        restart; a settle window in progress is not kept (decide those with flush_ended first).
        """
        saved: list[dict[str, Any]] = []
        for call in self._calls.values():
            item: dict[str, Any] = {}
            for f in fields(_Call):
                value = getattr(call, f.name)
                if f.name in _DATETIMES:
                    value = value.isoformat() if value is not None else None
                elif f.name in _SETS or f.name in _FROZENSETS:
                    value = sorted(value)
                elif f.name == "rang":
                    value = list(value)
                item[f.name] = value
            item["opened"] = now - call.opened
            item["settle_until"] = None
            item["bridge_members"] = {
                bridge: sorted(self._bridges.get(bridge, set()) & call.channels)
                for bridge in call.bridges
            }
            saved.append(item)
        return saved

    def restore(self, saved: list[Any], now: float, away: float) -> int:
        """Follow again the calls of a :meth:`snapshot` taken ``away`` seconds ago.

        A call already tracked, or one a different version of this code cannot read, is
        skipped. Returns how many calls were restored.
        """
        known = {f.name: f for f in fields(_Call)}
        restored = 0
        for item in saved:
            if not isinstance(item, dict):
                continue
            values: dict[str, Any] = {}
            try:
                for name, value in item.items():
                    if name not in known:
                        continue
                    if name in _DATETIMES:
                        value = datetime.fromisoformat(value) if value is not None else None
                    elif name in _SETS:
                        value = set(value)
                    elif name in _FROZENSETS:
                        value = frozenset(value) or _NONE
                    elif name == "rang":
                        value = tuple(value)
                    values[name] = value
                values["opened"] = now - float(item["opened"]) - away
                missing = [
                    f.name
                    for f in known.values()
                    if f.name not in values
                    and f.default is MISSING
                    and f.default_factory is MISSING
                ]
                if missing:
                    continue
                call = _Call(**values)
                members = {str(b): set(m) for b, m in dict(item.get("bridge_members", {})).items()}
            except (KeyError, TypeError, ValueError):
                continue
            if call.linkedid in self._calls:
                continue
            self._calls[call.linkedid] = call
            for uid in call.channels:
                self._channel_call[uid] = call.linkedid
            for bridge, uids in members.items():
                self._bridges.setdefault(bridge, set()).update(uids)
            if call.ended_at is not None:
                call.settle_until = None
                self._end(call, call.ended_at, now)
            restored += 1
        return restored

    # -- handlers ------------------------------------------------------------------------------

    def _shared(self, text: str) -> str:
        """One copy of a short text that many open calls hold (a caller name, a DID)."""
        kept = self._texts.get(text)
        if kept is not None:
            return kept
        if len(text) <= 64 and len(self._texts) < _SHARED_MAX:
            self._texts[text] = text
        return text

    def _call(self, linkedid: str, at: datetime) -> _Call | None:
        call = self._calls.get(linkedid)
        if call is not None and at > call.last_at:
            call.last_at = at
        return call

    def _touch(self, at: datetime, channel: ev.Channel) -> _Call | None:
        """The call a channel belongs to, following a Linkedid change (bridging, transfers)."""
        known = self._channel_call.get(channel.uniqueid)
        if known is not None and known != channel.linkedid:
            old = self._calls.get(known)
            if old is not None:
                old.channels.discard(channel.uniqueid)
            del self._channel_call[channel.uniqueid]
            new = self._calls.get(channel.linkedid)
            if new is not None:
                new.channels.add(channel.uniqueid)
                self._channel_call[channel.uniqueid] = new.linkedid
        call = self._call(channel.linkedid, at)
        if (
            call is not None
            and not call.inbound
            and channel.uniqueid == call.linkedid
            and channel.context in self._cfg.inbound_contexts
        ):
            # The root's Newchannel may predate its dialplan location on some channel drivers.
            call.inbound = True
            call.exten = self._shared(channel.exten)
        return call

    def _on_newchannel(self, at: datetime, channel: ev.Channel, now: float) -> list[CallRecord]:
        decided: list[CallRecord] = []
        call = self._calls.get(channel.linkedid)
        if call is None and channel.uniqueid == channel.linkedid:
            if len(self._calls) >= self._cfg.max_open_calls:
                oldest = next(iter(self._calls.values()))
                decided.extend(self._decide(oldest, unknown_end=True))
            call = _Call(
                linkedid=channel.linkedid,
                opened=now,
                started_at=at,
                last_at=at,
                number=channel.caller_num,
                name=self._shared(channel.caller_name),
                exten=self._shared(channel.exten),
                inbound=channel.context in self._cfg.inbound_contexts,
            )
            self._calls[channel.linkedid] = call
        if call is None:
            return decided  # a call that began before we were listening
        call.last_at = max(call.last_at, at)
        # The call's own copy of the Linkedid where the texts are equal: one string, not two.
        uid = call.linkedid if channel.uniqueid == call.linkedid else channel.uniqueid
        call.channels.add(uid)
        self._channel_call[uid] = call.linkedid
        if call.settle_until is not None:
            # A channel appeared after the call looked over (e.g. a late callback leg).
            call.settle_until = None
            call.ended_at = None
        return decided

    def _on_hangup(self, at: datetime, channel: ev.Channel, now: float) -> None:
        call = self._touch(at, channel)
        self._channel_call.pop(channel.uniqueid, None)
        if call is None:
            return
        call.channels.discard(channel.uniqueid)
        if channel.uniqueid == call.linkedid and call.ringing:
            call.root_hung_up_while_ringing = True
        if call.ringing:
            call.ringing.discard(channel.uniqueid)
            if not call.ringing:
                call.ring_ended = at
        if not call.channels:
            self._end(call, at, now)

    def _end(self, call: _Call, at: datetime, now: float) -> None:
        if call.settle_until is not None:
            return
        call.ended_at = at
        call.settle_until = now + self._cfg.settle_seconds
        self._sequence += 1
        heapq.heappush(self._settling, (call.settle_until, self._sequence, call.linkedid))

    def _dial_call(self, at: datetime, caller: ev.Channel | None, dest: ev.Channel) -> _Call | None:
        if caller is not None:
            call = self._touch(at, caller)
            if call is not None:
                return call
        return self._touch(at, dest)

    def _on_dial_begin(
        self, at: datetime, caller: ev.Channel | None, dest: ev.Channel, dial_string: str
    ) -> None:
        call = self._dial_call(at, caller, dest)
        if call is None:
            return
        call.ringing.add(dest.uniqueid)
        call.ring_started = call.ring_started or at
        if dial_string and dial_string not in call.rang and len(call.rang) < _MAX_RANG:
            call.rang = (*call.rang, self._shared(dial_string))

    def _on_dial_end(
        self, at: datetime, caller: ev.Channel | None, dest: ev.Channel, status: str
    ) -> None:
        call = self._dial_call(at, caller, dest)
        if call is None:
            return
        if status not in call.dial_statuses:
            call.dial_statuses = call.dial_statuses | {status}
        if status == DialStatus.ANSWER:
            call.answered = True
        if dest.uniqueid in call.ringing:
            call.ringing.discard(dest.uniqueid)
            if not call.ringing:
                call.ring_ended = at

    def _on_bridge_enter(
        self, at: datetime, channel: ev.Channel, bridge_id: str, technology: str
    ) -> None:
        call = self._touch(at, channel)
        if call is None:
            return
        members = self._bridges.setdefault(bridge_id, set())
        members.add(channel.uniqueid)
        if bridge_id not in call.bridges:
            call.bridges = call.bridges | {bridge_id}
        if technology != "holding_bridge":
            together = sum(1 for uid in members if self._channel_call.get(uid) == call.linkedid)
            if together >= 2:
                call.answered = True

    # -- decision ------------------------------------------------------------------------------

    def _decide(self, call: _Call, unknown_end: bool = False) -> list[CallRecord]:
        """Forget the call and return its record, if it is one we store."""
        del self._calls[call.linkedid]
        for uid in call.channels:
            if self._channel_call.get(uid) == call.linkedid:
                del self._channel_call[uid]
        # A BridgeLeave lost in an outage must not pin the bridge in memory for months.
        for bridge_id in call.bridges:
            members = self._bridges.get(bridge_id)
            if members is not None:
                members.difference_update(call.channels)
                if not members or all(uid not in self._channel_call for uid in members):
                    del self._bridges[bridge_id]
        call.settle_until = None
        ended_at = call.ended_at or call.last_at
        ring_end = call.ring_ended if not call.ringing and call.ring_ended else ended_at
        ring_seconds = (
            max(0.0, (ring_end - call.ring_started).total_seconds()) if call.ring_started else 0.0
        )
        key = phone.number_key(call.number, self._cfg.country)
        if call.inbound:
            outcome, reason = decide(_evidence(call, unknown_end))
            return [
                CallRecord(
                    linkedid=call.linkedid,
                    direction=Direction.INBOUND,
                    outcome=outcome,
                    reason=reason,
                    number=call.number,
                    name=call.name,
                    number_key=key,
                    callable=phone.is_callable(call.number, self._cfg.country),
                    did=call.exten,
                    rang=tuple(call.rang),
                    started_at=call.started_at,
                    ended_at=max(ended_at, call.started_at),
                    ring_seconds=round(ring_seconds, 1),
                    reached_voicemail=call.reached_voicemail,
                )
            ]
        # Not inbound: internal, or outbound to the number the phone dialled. Only an answered
        # outbound call to a real phone number matters (it resolves missed calls).
        dialed_key = phone.number_key(call.exten, self._cfg.country)
        if call.answered and dialed_key and phone.is_callable(call.exten, self._cfg.country):
            return [
                CallRecord(
                    linkedid=call.linkedid,
                    direction=Direction.OUTBOUND,
                    outcome=Outcome.ANSWERED,
                    reason=Reason.ANSWERED,
                    number=call.exten,
                    name="",
                    number_key=dialed_key,
                    callable=True,
                    did="",
                    rang=tuple(call.rang),
                    started_at=call.started_at,
                    ended_at=max(ended_at, call.started_at),
                    ring_seconds=round(ring_seconds, 1),
                    reached_voicemail=False,
                )
            ]
        return []


# FullyBooted is not here: the listener decides what a reconnect means (see abandon_all).
_HANDLERS: dict[type, Callable[[CallTracker, Any, float], list[CallRecord] | None]] = {
    ev.Newchannel: CallTracker._newchannel,
    ev.Hangup: CallTracker._hangup,
    ev.Newstate: CallTracker._newstate,
    ev.DialBegin: CallTracker._dial_begin,
    ev.DialEnd: CallTracker._dial_end,
    ev.BridgeEnter: CallTracker._bridge_enter,
    ev.BridgeLeave: CallTracker._bridge_leave,
    ev.VarSet: CallTracker._var_set,
    ev.AppStart: CallTracker._app_start,
    ev.QueueEvent: CallTracker._queue_event,
    ev.AgentConnect: CallTracker._agent_connect,
    ev.MessageWaiting: CallTracker._message_waiting,
    ev.LinkedidEnd: CallTracker._linkedid_end,
}


def _evidence(call: _Call, unknown_end: bool) -> Evidence:
    """What the AMI events showed of an inbound call (decided by ``decision.decide``)."""
    return Evidence(
        answered=call.answered,
        voicemail_left=call.voicemail_left,
        reached_voicemail=call.reached_voicemail,
        reached_queue=call.reached_queue,
        caller_hung_up_while_ringing=call.root_hung_up_while_ringing,
        dial_statuses=frozenset(call.dial_statuses),
        rang_unclear=False,  # DialEnd tells NOANSWER (rang out) from CANCEL (caller hung up)
        rang=call.ring_started is not None,
        caller_channel_up=call.root_up,
        end_unseen=unknown_end or call.end_unseen,
    )
