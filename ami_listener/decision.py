"""What counts as a missed call: the one ladder every source's evidence goes through.

Three sources describe an inbound call: the AMI events the tracker follows live
(``ami_listener/tracker.py``) and, after a gap, the PBX's own CEL or CDR rows
(``ami_listener/cdr.py``). Each reads what it can see into one :class:`Evidence`; :func:`decide`
alone turns that into an outcome and a reason. The Asterisk facts behind each rung are in
``tests/lab/NOTES.md`` and the docs' "The listener" page.

A source that cannot see a fact says so, and the ladder gives the reason that admits it: CEL
and CDR never carry whether a message was left (``voicemail_left=None`` ->
``reconciled_voicemail_unknown`` for a call that reached VoiceMail), and a CDR writes NO ANSWER
both when the caller hung up while a phone rang and when it rang out (``rang_unclear`` ->
``reconciled_unanswered``).
"""

from __future__ import annotations

from dataclasses import dataclass

from callback_desk.core.model import DialStatus, Outcome, Reason


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one inbound call showed, whichever source saw it."""

    # A person took the call: a desk phone's or agent's answer, or two of the call's channels
    # in one non-holding bridge. The trunk channel going Up is *not* an answer (IVRs, queues
    # and VoiceMail answer it too).
    answered: bool
    # A message was recorded (VM_MESSAGEFILE, MessageWaiting); None: the source cannot tell.
    voicemail_left: bool | None
    reached_voicemail: bool
    reached_queue: bool
    # The caller hung up while a desk phone rang (AMI: the caller's Hangup while a leg rang;
    # CEL: the caller's last DIALSTATUS is CANCEL).
    caller_hung_up_while_ringing: bool
    # How the call's Dial() legs ended: DialEnd statuses, or what CEL/CDR recorded for them.
    dial_statuses: frozenset[str]
    # A leg rang and nobody answered, but whether the caller hung up or it rang out is unknown.
    rang_unclear: bool
    # Something rang for the caller (a Dial leg began, or the call joined a queue).
    rang: bool
    # The PBX itself answered the caller's channel (an IVR, a Playback), and no one else did.
    caller_channel_up: bool
    # The end was not seen (the channels vanished while the listener was away, or the call
    # outlived max_call_seconds): a call not answered is missed for an unknown reason.
    end_unseen: bool = False


def decide(evidence: Evidence) -> tuple[Outcome, Reason]:
    """The outcome of an inbound call and why: the first rung the evidence reaches."""
    if evidence.answered:
        return Outcome.ANSWERED, Reason.ANSWERED
    if evidence.voicemail_left:
        return Outcome.VOICEMAIL, Reason.VOICEMAIL_LEFT
    return Outcome.MISSED, _missed_reason(evidence)


def _missed_reason(e: Evidence) -> Reason:
    if e.end_unseen:
        return Reason.UNKNOWN_END
    if e.reached_voicemail:
        # Heard the greeting and left nothing; where a message cannot be seen, listed anyway:
        # a needless callback costs less than a lost caller.
        if e.voicemail_left is None:
            return Reason.RECONCILED_VOICEMAIL_UNKNOWN
        return Reason.VOICEMAIL_GREETING
    if e.reached_queue:
        return Reason.QUEUE_ABANDONED
    if e.caller_hung_up_while_ringing:
        return Reason.HANGUP_WHILE_RINGING
    statuses = e.dial_statuses
    if DialStatus.NOANSWER in statuses:
        return Reason.NO_ANSWER
    if DialStatus.BUSY in statuses:
        return Reason.BUSY
    if e.rang_unclear:
        return Reason.RECONCILED_UNANSWERED
    if statuses & {DialStatus.CHANUNAVAIL, DialStatus.CONGESTION}:
        return Reason.UNAVAILABLE
    if e.rang:
        return Reason.HANGUP_WHILE_RINGING
    if e.caller_channel_up:
        return Reason.IVR_HANGUP
    return Reason.HANGUP_BEFORE_RINGING
