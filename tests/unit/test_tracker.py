"""The call decision rules, fed with synthetic frames parsed exactly as the listener parses them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from panoramisk.message import Message

from ami_listener import events as ev
from ami_listener.tracker import CallTracker, TrackerConfig
from callback_desk.core.exceptions import MalformedEvent
from callback_desk.core.model import CallRecord
from fakes.frames import channel

T = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ROOT = "1700000000.1"


def msg(event: str, ts: float = 0.0, **headers: str) -> ev.Event | None:
    frame = "\r\n".join(
        [f"Event: {event}", f"Timestamp: {T.timestamp() + ts:.6f}"]
        + [f"{k}: {v}" for k, v in headers.items()]
    )
    message = Message.from_line(frame)
    return ev.parse(message, T.timestamp())


def chan(
    uid: str,
    linked: str = ROOT,
    context: str = "from-pstn",
    exten: str = "2000",
    num: str = "2125550123",
    name: str = "Caller",
    prefix: str = "",
) -> dict[str, str]:
    return channel(uid, linked, context, exten, num, name, prefix)


class Run:
    def __init__(self, **cfg) -> None:
        self.tracker = CallTracker(
            TrackerConfig(
                inbound_contexts=frozenset({"from-pstn"}), country="US", settle_seconds=2.0, **cfg
            )
        )
        self.now = 0.0
        self.records: list[CallRecord] = []

    def feed(self, event: ev.Event | None) -> Run:
        assert event is not None
        self.records += self.tracker.feed(event, self.now)
        return self

    def advance(self, seconds: float) -> list[CallRecord]:
        self.now += seconds
        self.records += self.tracker.due(self.now)
        return self.records


def ring(run: Run, leg: str = "1700000000.2", ts: float = 1, context: str = "from-pstn") -> None:
    run.feed(msg("Newchannel", ts, **chan(leg, context="from-pbx", exten="100")))
    run.feed(
        msg(
            "DialBegin",
            ts,
            **chan(ROOT, context=context),
            **chan(leg, prefix="Dest"),
            DialString="100@phones",
        )
    )


def hangup(run: Run, uid: str, ts: float, context: str = "from-pstn") -> None:
    run.feed(msg("Hangup", ts, **chan(uid, context=context), Cause="16"))


def test_caller_hangs_up_while_ringing_is_missed_after_settle() -> None:
    run = Run()
    run.feed(msg("Newchannel", 0, **chan(ROOT)))
    ring(run)
    run.feed(
        msg("DialEnd", 6, **chan(ROOT), **chan("1700000000.2", prefix="Dest"), DialStatus="CANCEL")
    )
    hangup(run, "1700000000.2", 6)
    hangup(run, ROOT, 6)
    assert run.advance(1.9) == []
    [record] = run.advance(0.2)
    assert (record.outcome, record.reason, record.did) == ("missed", "hangup_while_ringing", "2000")
    assert record.ring_seconds == 5.0
    assert record.number_key == "+12125550123" and record.callable
    assert record.rang == ("100@phones",)
    assert run.tracker.open_calls == 0 and run.tracker.tracked_channels == 0


def test_dial_answer_on_any_leg_is_answered() -> None:
    run = Run()
    run.feed(msg("Newchannel", 0, **chan(ROOT)))
    ring(run, "a")
    ring(run, "b")
    run.feed(msg("DialEnd", 3, **chan(ROOT), **chan("a", prefix="Dest"), DialStatus="CANCEL"))
    run.feed(msg("DialEnd", 3, **chan(ROOT), **chan("b", prefix="Dest"), DialStatus="ANSWER"))
    for uid in ("a", "b", ROOT):
        hangup(run, uid, 9)
    [record] = run.advance(3)
    assert record.outcome == "answered"


def test_trunk_going_up_is_not_an_answer() -> None:
    run = Run()
    run.feed(msg("Newchannel", 0, **chan(ROOT)))
    run.feed(msg("Newstate", 1, **chan(ROOT), ChannelStateDesc="Up"))
    hangup(run, ROOT, 8)
    [record] = run.advance(3)
    assert (record.outcome, record.reason) == ("missed", "ivr_hangup")


def test_message_waiting_after_hangup_within_settle_means_voicemail_left() -> None:
    run = Run()
    run.feed(msg("Newchannel", 0, **chan(ROOT)))
    run.feed(msg("Newexten", 1, **chan(ROOT), Application="VoiceMail"))
    hangup(run, ROOT, 20)
    run.advance(1)
    run.feed(
        msg(
            "MessageWaiting", 20, Mailbox="100@default", Waiting="1", New="1", Old="0", **chan(ROOT)
        )
    )
    [record] = run.advance(2)
    assert (record.outcome, record.reason) == ("voicemail", "voicemail_left")


def test_vmstatus_success_alone_is_not_a_voicemail() -> None:
    run = Run()
    run.feed(msg("Newchannel", 0, **chan(ROOT)))
    run.feed(msg("VarSet", 5, Uniqueid=ROOT, Linkedid=ROOT, Variable="VMSTATUS", Value="SUCCESS"))
    hangup(run, ROOT, 6)
    [record] = run.advance(3)
    assert (record.outcome, record.reason, record.reached_voicemail) == (
        "missed",
        "voicemail_greeting",
        True,
    )


def test_vm_messagefile_means_voicemail_left() -> None:
    run = Run()
    run.feed(msg("Newchannel", 0, **chan(ROOT)))
    run.feed(
        msg(
            "VarSet",
            5,
            Uniqueid=ROOT,
            Linkedid=ROOT,
            Variable="VM_MESSAGEFILE",
            Value="/var/spool/asterisk/voicemail/default/100/INBOX/msg0000",
        )
    )
    hangup(run, ROOT, 6)
    assert run.advance(3)[0].outcome == "voicemail"


def test_bridge_of_two_call_channels_is_an_answer_but_holding_bridge_is_not() -> None:
    run = Run()
    run.feed(msg("Newchannel", 0, **chan(ROOT)))
    run.feed(msg("Newchannel", 1, **chan("p", context="parkedcalls")))
    for uid in (ROOT, "p"):
        run.feed(
            msg(
                "BridgeEnter",
                2,
                **chan(uid),
                BridgeUniqueid="hold",
                BridgeTechnology="holding_bridge",
            )
        )
    for uid in (ROOT, "p"):
        hangup(run, uid, 5)
    assert run.advance(3)[0].outcome == "missed"

    run = Run()
    run.feed(msg("Newchannel", 0, **chan(ROOT)))
    run.feed(msg("Newchannel", 1, **chan("p", context="from-pbx")))
    for uid in (ROOT, "p"):
        run.feed(
            msg(
                "BridgeEnter", 2, **chan(uid), BridgeUniqueid="b1", BridgeTechnology="simple_bridge"
            )
        )
    for uid in (ROOT, "p"):
        run.feed(msg("BridgeLeave", 4, **chan(uid), BridgeUniqueid="b1"))
        hangup(run, uid, 5)
    assert run.advance(3)[0].outcome == "answered"


def test_queue_agent_connect_is_answered_and_abandon_is_missed() -> None:
    for event, expected in (("AgentConnect", "answered"), ("QueueCallerAbandon", "missed")):
        run = Run()
        run.feed(msg("Newchannel", 0, **chan(ROOT)))
        run.feed(msg("QueueCallerJoin", 1, **chan(ROOT), Queue="support"))
        run.feed(msg(event, 5, **chan(ROOT), Queue="support"))
        hangup(run, ROOT, 6)
        [record] = run.advance(3)
        assert record.outcome == expected
        if expected == "missed":
            assert record.reason == "queue_abandoned"


def test_internal_call_is_not_recorded_and_outbound_answered_is() -> None:
    run = Run()
    run.feed(msg("Newchannel", 0, **chan(ROOT, context="from-internal", exten="101", num="100")))
    ring(run, "x", context="from-internal")
    run.feed(
        msg(
            "DialEnd",
            2,
            **chan(ROOT, context="from-internal"),
            **chan("x", prefix="Dest"),
            DialStatus="ANSWER",
        )
    )
    hangup(run, "x", 5)
    hangup(run, ROOT, 5, context="from-internal")
    assert run.advance(3) == []

    run = Run()
    run.feed(
        msg("Newchannel", 0, **chan(ROOT, context="from-internal", exten="2125550123", num="100"))
    )
    ring(run, "x", context="from-internal")
    run.feed(
        msg(
            "DialEnd",
            2,
            **chan(ROOT, context="from-internal"),
            **chan("x", prefix="Dest"),
            DialStatus="ANSWER",
        )
    )
    hangup(run, "x", 5)
    hangup(run, ROOT, 5, context="from-internal")
    [record] = run.advance(3)
    assert (record.direction, record.outcome, record.number_key) == (
        "outbound",
        "answered",
        "+12125550123",
    )


def test_unanswered_outbound_is_not_recorded() -> None:
    run = Run()
    run.feed(msg("Newchannel", 0, **chan(ROOT, context="from-internal", exten="2125550123")))
    ring(run, "x", context="from-internal")
    run.feed(
        msg(
            "DialEnd",
            9,
            **chan(ROOT, context="from-internal"),
            **chan("x", prefix="Dest"),
            DialStatus="NOANSWER",
        )
    )
    hangup(run, "x", 9)
    hangup(run, ROOT, 9, context="from-internal")
    assert run.advance(3) == []


def test_linkedid_change_moves_the_channel() -> None:
    run = Run()
    run.feed(msg("Newchannel", 0, **chan(ROOT)))
    run.feed(msg("Newchannel", 0, **chan("other", linked="other", context="from-internal")))
    run.feed(msg("Newchannel", 1, **chan("leg", linked="other", context="from-internal")))
    # After a transfer the leg reports the inbound call's Linkedid.
    run.feed(msg("Newstate", 2, **chan("leg", linked=ROOT), ChannelStateDesc="Up"))
    hangup(run, ROOT, 3)
    assert run.advance(3) == []  # "leg" still belongs to the inbound call
    hangup(run, "leg", 4)
    assert [r.linkedid for r in run.advance(3)] == [ROOT]


def test_cel_linkedid_end_closes_the_call() -> None:
    run = Run()
    run.feed(msg("Newchannel", 0, **chan(ROOT)))
    run.feed(msg("CEL", 5, EventName="LINKEDID_END", LinkedID=ROOT, UniqueID=ROOT))
    [record] = run.advance(2.5)
    assert record.outcome == "missed"


def test_new_channel_during_settle_keeps_the_call_open() -> None:
    run = Run()
    run.feed(msg("Newchannel", 0, **chan(ROOT)))
    run.feed(msg("Newchannel", 1, **chan("leg")))
    hangup(run, "leg", 2)
    run.feed(msg("CEL", 2, EventName="LINKEDID_END", LinkedID=ROOT))
    run.feed(msg("Newchannel", 3, **chan("leg2")))
    assert run.advance(5) == []
    hangup(run, "leg2", 8)
    hangup(run, ROOT, 8)
    assert len(run.advance(3)) == 1


def test_call_that_never_ends_expires_with_unknown_end() -> None:
    run = Run(max_call_seconds=3600)
    run.feed(msg("Newchannel", 0, **chan(ROOT)))
    assert run.tracker.next_deadline() == 3600
    assert run.advance(3599) == []
    [record] = run.advance(2)
    assert (record.outcome, record.reason) == ("missed", "unknown_end")


def test_open_calls_are_bounded() -> None:
    run = Run(max_open_calls=100)
    for i in range(250):
        run.feed(msg("Newchannel", i, **chan(f"c{i}", linked=f"c{i}")))
    assert run.tracker.open_calls == 100
    assert len(run.records) == 150
    assert {r.reason for r in run.records} == {"unknown_end"}


def test_past_the_bound_the_oldest_call_is_recorded_as_unknown_end_and_forgotten() -> None:
    # What max_open_calls does to a call whose end never comes (a PBX crash lost its Hangup):
    # it is decided as if max_call_seconds had passed, with everything seen so far, and then
    # nothing of it stays in memory; events that still come for it are ignored.
    run = Run(max_open_calls=2)
    for n, root in enumerate(("a.1", "b.1")):
        run.feed(msg("Newchannel", n, **chan(root, linked=root, num=f"212555010{n}")))
        run.feed(msg("Newchannel", n, **chan(root + "1", linked=root, exten="100")))
        run.feed(
            msg(
                "DialBegin",
                n + 1,
                **chan(root, linked=root),
                **chan(root + "1", linked=root, prefix="Dest"),
                DialString="100@phones",
            )
        )
    assert run.records == [] and run.tracker.tracked_channels == 4
    run.feed(msg("Newchannel", 5, **chan("c.1", linked="c.1")))  # a third: "a.1" must go
    [record] = run.records
    assert (record.linkedid, record.outcome, record.reason) == ("a.1", "missed", "unknown_end")
    assert (record.number, record.number_key, record.callable) == (
        "2125550100",
        "+12125550100",
        True,
    )
    assert (record.did, record.rang, record.started_at) == ("2000", ("100@phones",), T)
    assert record.ended_at.timestamp() == T.timestamp() + 1  # its last event: the DialBegin
    assert run.tracker.open_calls == 2 and run.tracker.tracked_channels == 3
    # Its late events change nothing and pin nothing: no second record, no channel kept.
    leg = chan("a.11", linked="a.1", prefix="Dest")
    run.feed(msg("DialEnd", 9, **chan("a.1", linked="a.1"), **leg, DialStatus="ANSWER"))
    run.feed(msg("Hangup", 9, **chan("a.11", linked="a.1"), Cause="16"))
    run.feed(msg("Hangup", 9, **chan("a.1", linked="a.1"), Cause="16"))
    assert len(run.advance(10)) == 1
    assert run.tracker.open_calls == 2 and run.tracker.tracked_channels == 3


def test_a_call_closed_by_the_bound_keeps_what_was_known_of_it() -> None:
    run = Run(max_open_calls=1)
    run.feed(msg("Newchannel", 0, **chan(ROOT)))
    ring(run)
    run.feed(
        msg("DialEnd", 2, **chan(ROOT), **chan("1700000000.2", prefix="Dest"), DialStatus="ANSWER")
    )
    run.feed(msg("Newchannel", 3, **chan("d.1", linked="d.1")))
    [record] = run.records
    assert (record.outcome, record.reason) == ("answered", "answered")


def test_events_of_calls_we_never_saw_start_are_ignored() -> None:
    run = Run()
    hangup(run, "stranger", 1)
    run.feed(
        msg(
            "DialEnd",
            1,
            **chan("s", linked="s"),
            **chan("t", linked="s", prefix="Dest"),
            DialStatus="ANSWER",
        )
    )
    assert run.advance(10) == [] and run.tracker.open_calls == 0


def test_missing_required_header_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match="Hangup without linkedid"):
        msg("Hangup", 0, Uniqueid="1")


@pytest.mark.parametrize("stamp", ["soon", "nan", "inf", "1e300", "0", "-5", "99999999999"])
def test_timestamp_far_off_or_unreadable_is_replaced_by_the_receipt_time(stamp: str) -> None:
    # Refusing the event would lose a Hangup (the call stays open for max_call_seconds); a PBX
    # clock at 1970 would file the call where the purge deletes it at once.
    frame = f"Event: Hangup\r\nUniqueid: 1\r\nLinkedid: 1\r\nTimestamp: {stamp}"
    headers = {k.lower(): v for k, _, v in (line.partition(": ") for line in frame.split("\r\n"))}
    event, skewed = ev.parse_checked(headers, T.timestamp())
    assert event is not None and event.at == T and skewed


def test_timestamp_within_a_day_of_receipt_is_kept() -> None:
    headers = {"event": "Hangup", "uniqueid": "1", "linkedid": "1"}
    later = T.timestamp() + 3 * 3600
    event, skewed = ev.parse_checked({**headers, "timestamp": f"{later:.6f}"}, T.timestamp())
    assert event is not None and event.at.timestamp() == later and not skewed


def test_unknown_and_uninteresting_events_parse_to_none() -> None:
    assert msg("PeerStatus", 0, Peer="x") is None
    assert msg("VarSet", 0, Uniqueid="1", Linkedid="1", Variable="FOO", Value="x") is None
    assert msg("Newexten", 0, **chan(ROOT), Application="") is None


def test_abandon_all_decides_open_calls() -> None:
    run = Run()
    run.feed(msg("Newchannel", 0, **chan(ROOT)))
    [record] = run.tracker.abandon_all()
    assert record.reason == "unknown_end" and run.tracker.open_calls == 0


def test_bridge_left_without_bridgeleave_is_forgotten_with_its_call() -> None:
    run = Run()
    run.feed(msg("Newchannel", 0, **chan(ROOT)))
    run.feed(msg("Newchannel", 1, **chan("p", context="from-pbx")))
    for uid in (ROOT, "p"):
        run.feed(
            msg(
                "BridgeEnter", 2, **chan(uid), BridgeUniqueid="b1", BridgeTechnology="simple_bridge"
            )
        )
    # The BridgeLeave frames were lost (an AMI outage); only the hang-ups arrive.
    for uid in (ROOT, "p"):
        hangup(run, uid, 5)
    assert run.tracker.tracked_bridges == 1
    assert run.advance(3)[0].outcome == "answered"
    assert run.tracker.tracked_bridges == 0


def _interrupted(split: int, frames: list[ev.Event | None]) -> list[CallRecord]:
    """Feed ``frames``, restarting the tracker (snapshot -> JSON -> restore) after ``split``."""
    import json

    first = Run()
    for event in frames[:split]:
        first.feed(event)
    saved = json.loads(json.dumps(first.tracker.snapshot(first.now)))
    second = Run()
    assert second.tracker.restore(saved, second.now, away=30.0) == first.tracker.open_calls
    for event in frames[split:]:
        second.feed(event)
    return second.advance(10)


def test_a_call_restored_after_a_restart_is_decided_as_if_never_interrupted() -> None:
    leg = "1700000000.2"
    frames = [
        msg("Newchannel", 0, **chan(ROOT)),
        msg("Newchannel", 1, **chan(leg, context="from-pbx", exten="100")),
        msg("DialBegin", 1, **chan(ROOT), **chan(leg, prefix="Dest"), DialString="100@phones"),
        msg("BridgeEnter", 5, **chan(ROOT), BridgeUniqueid="b1", BridgeTechnology="simple_bridge"),
        msg("BridgeEnter", 5, **chan(leg), BridgeUniqueid="b1", BridgeTechnology="simple_bridge"),
        msg("Hangup", 9, **chan(leg, context="from-pbx"), Cause="16"),
        msg("Hangup", 9, **chan(ROOT), Cause="16"),
    ]
    whole = Run()
    for event in frames:
        whole.feed(event)
    expected = whole.advance(10)
    assert [r.outcome for r in expected] == ["answered"]
    for split in range(1, len(frames)):
        assert _interrupted(split, frames) == expected, split


def test_a_snapshot_from_another_version_is_skipped_not_fatal() -> None:
    run = Run()
    restored = run.tracker.restore(
        [{"linkedid": "x"}, {"opened": "soon"}, "not a call"],
        0.0,
        0.0,
    )
    assert restored == 0 and run.tracker.open_calls == 0


def test_max_clock_skew_zero_trusts_the_pbx_within_a_century() -> None:
    headers = {"event": "Hangup", "uniqueid": "1", "linkedid": "1"}
    old = T.timestamp() - 3 * 86400  # a recorded day replayed (the demo)
    event = ev.parse({**headers, "timestamp": f"{old:.6f}"}, T.timestamp(), max_skew=0)
    assert event is not None and event.at.timestamp() == old
    event = ev.parse({**headers, "timestamp": "1e300"}, T.timestamp(), max_skew=0)
    assert event is not None and event.at == T
