"""Decide calls from the PBX's own records (CEL or CDR rows), the way the tracker does from AMI.

Pure: rows in, :class:`~callback_desk.core.model.CallRecord` out. Used to fill the gaps when no
listener was logged in to AMI (``ami_listener.gaps``). Each path reads its rows into the
evidence the tracker reads from AMI, and ``ami_listener/decision.py`` decides (the Asterisk
behaviour behind the rules: docs/listener.md). What each table can show:

CEL (``cel_pgsql`` / FreePBX's ``cel_odbc``: one row per channel event, with ``linkedid``)
- answered: a non-holding bridge that two channels of the call entered (BRIDGE_ENTER), or the
  ANSWER of a channel other than the caller's that is not a Local channel (a desk phone or, for
  an outbound call, the far end). The trunk channel going Up (the caller's own ANSWER) is not
  an answer: IVRs, queues and VoiceMail answer it too.
- over: LINKEDID_END, or every channel that started has ended (CHAN_END); else still running.
CDR (``cdr_pgsql`` / FreePBX's ``cdr_adaptive_odbc``: one row per call leg, with ``linkedid``)
- answered: a leg with a ``dstchannel`` that is not a Local channel and disposition ANSWERED
  (the caller's own segments, with no dstchannel, are ANSWERED whenever VoiceMail, an IVR or a
  Playback answered them).
- inbound: the caller's row has a ``did`` (FreePBX) or its ``dcontext`` is an inbound context.
  A CDR keeps only the *last* context: without a did column, a call an IVR moved elsewhere
  looks internal and is not recorded (seen in the lab: dcontext ivr-main, dst s). Prefer CEL.
- the reason: NO ANSWER is written both when the caller hung up while it rang and when it rang
  out, so such a call gets ``reconciled_unanswered``.

Neither table says whether a voicemail was *left* (VM_MESSAGEFILE and MessageWaiting exist only
on AMI): a call that reached VoiceMail is listed as missed with the reason
``reconciled_voicemail_unknown`` — a needless callback costs less than a lost caller.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ami_listener.decision import Evidence, decide
from callback_desk.core import phone
from callback_desk.core.model import CallRecord, DialStatus, Direction, Outcome, Reason

_MAX_RANG = 16

# A dial leg's CDR disposition, as the DIALSTATUS it stands for; any other (NO ANSWER) could
# be either NOANSWER or CANCEL.
_CDR_DIAL_STATUS = {
    "BUSY": DialStatus.BUSY,
    "FAILED": DialStatus.CHANUNAVAIL,
    "CONGESTION": DialStatus.CONGESTION,
}
_CDR_KNOWN = frozenset(_CDR_DIAL_STATUS)


@dataclass(frozen=True, slots=True)
class Rules:
    inbound_contexts: frozenset[str]
    country: str


@dataclass(frozen=True, slots=True)
class CelRow:
    """One CEL record; ``event`` is the event name (CHAN_START, ANSWER, ...)."""

    event: str
    at: datetime  # aware
    uniqueid: str
    linkedid: str
    channel: str
    context: str
    exten: str
    cid_num: str
    cid_name: str
    app: str
    appdata: str
    extra: str


@dataclass(frozen=True, slots=True)
class CdrRow:
    """One CDR record (one leg or segment of a call)."""

    start: datetime  # aware
    duration: float  # seconds from start to the end of this record
    clid: str
    src: str
    dst: str
    dcontext: str
    channel: str
    dstchannel: str
    lastapp: str
    lastdata: str
    disposition: str
    uniqueid: str
    linkedid: str
    # FreePBX sets CDR(did) on every inbound route: the only inbound marker left when an IVR or
    # a ring group moved the call on (a CDR keeps only the last dcontext/dst).
    did: str = ""

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=self.duration)


def by_linkedid(rows: Sequence[CelRow | CdrRow]) -> dict[str, list[CelRow | CdrRow]]:
    """Rows grouped per call, in the order given (the reader sorts by time)."""
    calls: dict[str, list[CelRow | CdrRow]] = {}
    for row in rows:
        calls.setdefault(row.linkedid, []).append(row)
    return calls


# -- CEL -----------------------------------------------------------------------------------------


def cel_over(rows: Sequence[CelRow]) -> bool:
    """Whether the call is over (decide it now) or still running (read it again later)."""
    if any(r.event == "LINKEDID_END" for r in rows):
        return True
    started = {r.uniqueid for r in rows if r.event == "CHAN_START"}
    ended = {r.uniqueid for r in rows if r.event == "CHAN_END"}
    return bool(started) and started <= ended


def decide_cel(rows: Sequence[CelRow], rules: Rules) -> CallRecord | None:
    """The call these rows (all of one linkedid) describe, or None if it is not stored."""
    if not rows:
        return None
    linkedid = rows[0].linkedid
    root = [r for r in rows if r.uniqueid == linkedid]
    if not root:
        return None  # the caller's channel is outside the window read: not ours to decide
    first = root[0]
    entry = next((r for r in root if r.context in rules.inbound_contexts), None)
    legs = [r for r in rows if r.uniqueid != linkedid]
    answered = _cel_bridged(rows) or any(
        r.event == "ANSWER" and not _local(r.channel) for r in legs
    )
    apps = {r.app.lower() for r in rows if r.app}
    reached_voicemail = "voicemail" in apps
    rang: list[str] = []
    for r in rows:
        if r.app.lower() == "dial":
            _add_dial_strings(rang, r.appdata)
    leg_starts = [r.at for r in legs if r.event == "CHAN_START"]
    queue_at = [r.at for r in rows if r.app.lower() == "queue"]
    ring_started = min(leg_starts + queue_at, default=None)
    ended_at = max(r.at for r in rows)
    started_at = first.at
    if ring_started is not None:
        answers = [r.at for r in legs if r.event == "ANSWER"]
        leg_ends = [r.at for r in legs if r.event in ("HANGUP", "CHAN_END")]
        ring_end = min(answers) if answered and answers else max(leg_ends, default=ended_at)
        ring_seconds = max(0.0, (min(ring_end, ended_at) - ring_started).total_seconds())
    else:
        ring_seconds = 0.0
    if entry is not None:
        status = _dial_status(root)
        outcome, reason = decide(
            Evidence(
                answered=answered,
                voicemail_left=None,  # VM_MESSAGEFILE and MessageWaiting exist only on AMI
                reached_voicemail=reached_voicemail,
                reached_queue="queue" in apps,
                caller_hung_up_while_ringing=status == DialStatus.CANCEL,
                dial_statuses=frozenset({status} - {""}),
                rang_unclear=False,
                rang=ring_started is not None,
                caller_channel_up=any(r.event == "ANSWER" for r in root),
            )
        )
        return _record(
            linkedid,
            Direction.INBOUND,
            outcome,
            reason,
            number=first.cid_num,
            name=first.cid_name,
            did=entry.exten,
            rang=rang,
            started_at=started_at,
            ended_at=ended_at,
            ring_seconds=ring_seconds,
            reached_voicemail=reached_voicemail,
            rules=rules,
        )
    return _outbound(
        linkedid, answered, first.exten, rang, started_at, ended_at, ring_seconds, rules
    )


def _cel_bridged(rows: Sequence[CelRow]) -> bool:
    """Two channels of the call in one non-holding bridge (Wazo's rule, as in the tracker)."""
    members: dict[str, set[str]] = {}
    for r in rows:
        if r.event != "BRIDGE_ENTER":
            continue
        bridge, technology = _bridge(r.extra)
        if bridge and technology != "holding_bridge":
            members.setdefault(bridge, set()).add(r.uniqueid)
    return any(len(uids) >= 2 for uids in members.values())


def _bridge(extra: str) -> tuple[str, str]:
    # CEL's extra is JSON: {"bridge_id":"…","bridge_technology":"simple_bridge"}.
    data = _json(extra)
    return str(data.get("bridge_id", "")), str(data.get("bridge_technology", ""))


def _dial_status(root: Sequence[CelRow]) -> str:
    # The caller's HANGUP carries its last DIALSTATUS: {"hangupcause":16,…,"dialstatus":"…"}.
    for r in reversed(root):
        if r.event == "HANGUP":
            return str(_json(r.extra).get("dialstatus", "")).upper()
    return ""


def _json(text: str) -> dict[str, object]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# -- CDR -----------------------------------------------------------------------------------------


def decide_cdr(rows: Sequence[CdrRow], rules: Rules) -> CallRecord | None:
    """The call these CDR rows (all of one linkedid) describe, or None if it is not stored."""
    if not rows:
        return None
    linkedid = rows[0].linkedid
    root = sorted((r for r in rows if r.uniqueid == linkedid), key=lambda r: r.start)
    if not root:
        return None
    first = root[0]
    entry = next((r for r in root if r.did or r.dcontext in rules.inbound_contexts), None)
    dials = [r for r in rows if r.dstchannel and not _local(r.dstchannel)]
    answered = any(r.disposition.upper() == "ANSWERED" for r in dials)
    apps = {r.lastapp.lower() for r in rows}
    reached_voicemail = "voicemail" in apps
    rang: list[str] = []
    for r in rows:
        if r.lastapp.lower() == "dial":
            _add_dial_strings(rang, r.lastdata)
    started_at = min(r.start for r in rows)
    ended_at = max(r.end for r in rows)
    # A CDR's times cover the whole leg; the ringing itself is not recorded.
    ring_seconds = 0.0
    if entry is not None:
        dispositions = {r.disposition.upper() for r in dials}
        outcome, reason = decide(
            Evidence(
                answered=answered,
                voicemail_left=None,  # VM_MESSAGEFILE and MessageWaiting exist only on AMI
                reached_voicemail=reached_voicemail,
                reached_queue="queue" in apps,
                caller_hung_up_while_ringing=False,  # NO ANSWER says neither way
                dial_statuses=frozenset(_CDR_DIAL_STATUS[d] for d in dispositions & _CDR_KNOWN),
                # NO ANSWER both when the caller hung up while it rang and when it rang out.
                rang_unclear=bool(dispositions - _CDR_KNOWN),
                rang=bool(dials),
                caller_channel_up=any(r.disposition.upper() == "ANSWERED" for r in root),
            )
        )
        name, number = _split_clid(first.clid, first.src)
        return _record(
            linkedid,
            Direction.INBOUND,
            outcome,
            reason,
            number=number,
            name=name,
            did=entry.did or entry.dst,
            rang=rang,
            started_at=started_at,
            ended_at=ended_at,
            ring_seconds=ring_seconds,
            reached_voicemail=reached_voicemail,
            rules=rules,
        )
    return _outbound(linkedid, answered, first.dst, rang, started_at, ended_at, 0.0, rules)


def _split_clid(clid: str, src: str) -> tuple[str, str]:
    """``"Name" <number>`` -> (name, number); the number falls back to ``src``."""
    text = clid.strip()
    if text.endswith(">") and "<" in text:
        name, _, number = text[:-1].rpartition("<")
        name = name.strip()
        if len(name) >= 2 and name[0] == name[-1] == '"':
            name = name[1:-1]
        return name, number.strip() or src
    return "", src


# -- shared ----------------------------------------------------------------------------------------


def _local(channel: str) -> bool:
    return channel.lower().startswith("local/")


def _add_dial_strings(rang: list[str], appdata: str) -> None:
    """``PJSIP/100@phones&PJSIP/101@phones,8`` -> ``100@phones``, ``101@phones`` (as DialBegin)."""
    targets = appdata.split(",", 1)[0]
    for target in targets.split("&"):
        _, _, dial_string = target.strip().partition("/")
        if dial_string and dial_string not in rang and len(rang) < _MAX_RANG:
            rang.append(dial_string)


def _outbound(
    linkedid: str,
    answered: bool,
    dialled: str,
    rang: list[str],
    started_at: datetime,
    ended_at: datetime,
    ring_seconds: float,
    rules: Rules,
) -> CallRecord | None:
    # Only an answered outbound call to a real number is stored: it returns missed calls.
    if not answered or not phone.number_key(dialled, rules.country):
        return None
    if not phone.is_callable(dialled, rules.country):
        return None
    return _record(
        linkedid,
        Direction.OUTBOUND,
        Outcome.ANSWERED,
        Reason.ANSWERED,
        number=dialled,
        name="",
        did="",
        rang=rang,
        started_at=started_at,
        ended_at=ended_at,
        ring_seconds=ring_seconds,
        reached_voicemail=False,
        rules=rules,
    )


def _record(
    linkedid: str,
    direction: Direction,
    outcome: Outcome,
    reason: Reason,
    *,
    number: str,
    name: str,
    did: str,
    rang: list[str],
    started_at: datetime,
    ended_at: datetime,
    ring_seconds: float,
    reached_voicemail: bool,
    rules: Rules,
) -> CallRecord:
    return CallRecord(
        linkedid=linkedid,
        direction=direction,
        outcome=outcome,
        reason=reason,
        number=number,
        name=name,
        number_key=phone.number_key(number, rules.country),
        callable=phone.is_callable(number, rules.country),
        did=did,
        rang=tuple(rang),
        started_at=started_at,
        ended_at=max(ended_at, started_at),
        ring_seconds=round(ring_seconds, 1),
        reached_voicemail=reached_voicemail,
    )
