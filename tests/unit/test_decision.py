"""The one ladder that says what counts as a missed call (ami_listener/decision.py).

The tracker (AMI), the CEL path and the CDR path each build an :class:`Evidence` and call
:func:`decide`; what each path decides for real calls is checked on the recorded traces
(tests/db/test_traces.py) and the lab's CEL/CDR rows (tests/unit/test_records.py). Here: every
combination of evidence gets a reason the evidence supports, and the order of the rungs.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from ami_listener.decision import Evidence, decide
from callback_desk.core.model import DialStatus, Outcome, Reason

ROOT = Path(__file__).resolve().parents[2]
STATUSES = (
    DialStatus.NOANSWER,
    DialStatus.BUSY,
    DialStatus.CANCEL,
    DialStatus.CHANUNAVAIL,
    DialStatus.CONGESTION,
)
NOTHING = Evidence(
    answered=False,
    voicemail_left=False,
    reached_voicemail=False,
    reached_queue=False,
    caller_hung_up_while_ringing=False,
    dial_statuses=frozenset(),
    rang_unclear=False,
    rang=False,
    caller_channel_up=False,
)


def every_evidence() -> Iterator[Evidence]:
    flags = ("reached_voicemail", "reached_queue", "caller_hung_up_while_ringing")
    more = ("rang_unclear", "rang", "caller_channel_up", "end_unseen")
    for answered, left in itertools.product((False, True), (False, True, None)):
        for on in itertools.product((False, True), repeat=len(flags) + len(more)):
            for n in range(len(STATUSES) + 1):
                for statuses in itertools.combinations(STATUSES, n):
                    yield replace(
                        NOTHING,
                        answered=answered,
                        voicemail_left=left,
                        dial_statuses=frozenset(statuses),
                        **dict(zip(flags + more, on, strict=True)),
                    )


def supported(e: Evidence, reason: Reason) -> bool:
    """Whether the evidence shows what the reason claims."""
    failed = {DialStatus.CHANUNAVAIL, DialStatus.CONGESTION}
    return {
        Reason.ANSWERED: e.answered,
        Reason.VOICEMAIL_LEFT: e.voicemail_left is True,
        Reason.UNKNOWN_END: e.end_unseen,
        Reason.VOICEMAIL_GREETING: e.reached_voicemail and e.voicemail_left is False,
        Reason.RECONCILED_VOICEMAIL_UNKNOWN: e.reached_voicemail and e.voicemail_left is None,
        Reason.QUEUE_ABANDONED: e.reached_queue,
        Reason.HANGUP_WHILE_RINGING: e.caller_hung_up_while_ringing or e.rang,
        Reason.NO_ANSWER: DialStatus.NOANSWER in e.dial_statuses,
        Reason.BUSY: DialStatus.BUSY in e.dial_statuses,
        Reason.RECONCILED_UNANSWERED: e.rang_unclear,
        Reason.UNAVAILABLE: bool(e.dial_statuses & failed),
        Reason.IVR_HANGUP: e.caller_channel_up,
        # Nothing rang and nothing else is known: the caller gave up before anything began.
        Reason.HANGUP_BEFORE_RINGING: not (
            e.rang or e.rang_unclear or e.caller_hung_up_while_ringing or e.caller_channel_up
        )
        and not e.dial_statuses - {DialStatus.CANCEL},
    }[reason]


def test_every_combination_gets_a_reason_its_evidence_supports() -> None:
    seen: set[Reason] = set()
    count = 0
    for evidence in every_evidence():
        outcome, reason = decide(evidence)
        count += 1
        seen.add(reason)
        assert supported(evidence, reason), (evidence, reason)
        # Answered beats everything; a message left beats every missed reason.
        if evidence.answered:
            assert (outcome, reason) == (Outcome.ANSWERED, Reason.ANSWERED)
        elif evidence.voicemail_left:
            assert (outcome, reason) == (Outcome.VOICEMAIL, Reason.VOICEMAIL_LEFT)
        else:
            assert outcome == Outcome.MISSED
            # An end not seen is all that can be said of a call nobody answered.
            assert (reason == Reason.UNKNOWN_END) == evidence.end_unseen
    assert count == 2 * 3 * 2**7 * 2 ** len(STATUSES)
    assert seen == set(Reason), f"rungs never reached: {set(Reason) - seen}"


@pytest.mark.parametrize(
    ("evidence", "reason", "why"),
    [
        (
            {"reached_voicemail": True, "reached_queue": True, "rang": True},
            Reason.VOICEMAIL_GREETING,
            "a queue that overflowed to VoiceMail: the caller heard a greeting",
        ),
        (
            {"reached_queue": True, "dial_statuses": {DialStatus.NOANSWER}},
            Reason.QUEUE_ABANDONED,
            "members ringing out is how a queue works; the caller left it",
        ),
        (
            {"caller_hung_up_while_ringing": True, "dial_statuses": {DialStatus.NOANSWER}},
            Reason.HANGUP_WHILE_RINGING,
            "one phone of a ring group rang out, then the caller hung up",
        ),
        (
            {"dial_statuses": {DialStatus.NOANSWER, DialStatus.BUSY}},
            Reason.NO_ANSWER,
            "a ring group with one phone busy: the others rang",
        ),
        (
            {"dial_statuses": {DialStatus.BUSY}, "rang_unclear": True},
            Reason.BUSY,
            "CDR: a busy leg is the one certain fact",
        ),
        (
            {"dial_statuses": {DialStatus.CHANUNAVAIL}, "rang_unclear": True},
            Reason.RECONCILED_UNANSWERED,
            "CDR: one leg failed, another rang",
        ),
        (
            {"dial_statuses": {DialStatus.CONGESTION}, "rang": True},
            Reason.UNAVAILABLE,
            "every leg failed",
        ),
        (
            {"rang": True, "caller_channel_up": True},
            Reason.HANGUP_WHILE_RINGING,
            "an IVR sent the caller to a phone that was still ringing",
        ),
        ({"caller_channel_up": True}, Reason.IVR_HANGUP, "the PBX answered, nothing rang"),
        ({}, Reason.HANGUP_BEFORE_RINGING, "nothing happened"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_the_order_of_the_rungs(evidence: dict[str, object], reason: Reason, why: str) -> None:
    values = {k: frozenset(v) if isinstance(v, set) else v for k, v in evidence.items()}
    assert decide(replace(NOTHING, **values)) == (Outcome.MISSED, reason), why  # type: ignore[arg-type]


def _reasons_named(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "Reason"
    }


def test_no_other_module_of_the_listener_decides_a_reason() -> None:
    # The three ladders (tracker._decide, cdr.decide_cel, cdr.decide_cdr) were written as
    # copies; a reason named outside decision.py is a copy coming back. Only "answered" is
    # allowed, for the outbound call that returns a missed one.
    modules = sorted((ROOT / "ami_listener").glob("*.py"))
    assert ROOT / "ami_listener" / "decision.py" in modules
    named = {
        path.name: _reasons_named(path) - {"ANSWERED"}
        for path in modules
        if path.name != "decision.py"
    }
    assert {name: reasons for name, reasons in named.items() if reasons} == {}
