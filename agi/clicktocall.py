"""Click-to-call: ring the therapist's desk phone first, then run the callback dial.

AMI ``Originate`` with ``Channel`` = the desk (its display shows whom it is about to call, via
``CallerID`` on that leg), ``Context``/``Exten`` = the click-to-call context and the missed call's
id, and a pre-assigned ``ChannelId``: the AGI records the attempt under that id when the desk
answers, so the attempt is linked to the call record. Async Originate answers twice: "queued",
then an ``OriginateResponse`` event whose ``Reason`` says why the desk did not answer.

The shared AMI client (:mod:`callback_desk.core.ami`) logs in, sends this one action and closes;
every value is also checked here, so a bad one is refused with the desk's own wording.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from agi import variables as var
from agi.config import AgiSettings
from agi.config import load as load_agi
from agi.dialing import CallbackNumber
from agi.policy import authorize
from agi.queries import Callbacks
from callback_desk.core.ami import AmiClient
from callback_desk.core.config import Settings
from callback_desk.core.exceptions import (
    AmiError,
    CallbackError,
    DeskUnavailable,
    NotCallable,
)
from callback_desk.core.phone import mask
from callback_desk.core.store import Store

logger = logging.getLogger(__name__)

_EXTENSION = re.compile(r"[0-9]{1,10}", re.ASCII)
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")

# OriginateResponse Reason: the AST_CONTROL_* frame that ended the desk leg's dialling.
_REASONS = {
    "0": "the desk phone is offline or does not exist",
    "1": "the desk phone hung up",
    "3": "the desk phone rang but nobody answered",
    "5": "the desk phone is busy",
    "8": "the desk phone is unreachable (congestion)",
}


@dataclass(frozen=True)
class Originated:
    call_id: int
    extension: str
    channel_id: str
    number: CallbackNumber


def check_value(key: str, value: str) -> str:
    """Refuse CR/LF (and other control characters) in an AMI action value: header injection."""
    if _UNSAFE.search(value):
        raise CallbackError(f"refusing an AMI {key} value with control characters")
    return value


def originate_action(
    cfg: AgiSettings, call_id: int, extension: str, number: CallbackNumber, channel_id: str
) -> dict[str, Any]:
    # The desk sees "Callback (212) 555-0123" on its display before it picks up; a foreign
    # number shows in its international form, as it is dialled (agi.dialing).
    label = f"Callback {number.display}"
    action: dict[str, Any] = {
        "Action": "Originate",
        "Channel": cfg.desk_channel.replace("{extension}", extension),
        "Context": cfg.originate_context,
        "Exten": str(call_id),
        "Priority": "1",
        "CallerID": f'"{label}" <{number.dial}>',
        "Timeout": str(cfg.desk_ring_seconds * 1000),
        "ChannelId": channel_id,
        "Variable": f"{var.EXTENSION}={extension}",
        "Async": "true",
    }
    for key, value in action.items():
        check_value(key, value)
    return action


async def _send(settings: Settings, cfg: AgiSettings, action: dict[str, Any], wait: float) -> Any:
    """One login, one action, close: the shared AMI client in its one-shot mode."""
    secret = cfg.ami_secret or settings.ami.require_secret()
    client = AmiClient.for_settings(
        settings.ami,
        username=cfg.ami_username or settings.ami.username,
        secret=secret.reveal(),
        # OriginateResponse is a 'call' class event: with Events: off it never arrives.
        events="call",
    )
    try:
        await client.open()
        return await client.send_action(action, timeout=wait)
    finally:
        await client.aclose()


async def originate(
    settings: Settings,
    call_id: int,
    extension: str,
    *,
    callbacks: Callbacks | None = None,
) -> Originated:
    """Ring ``extension``; once answered, it dials the caller of missed call ``call_id``."""
    cfg = load_agi(settings)
    if not _EXTENSION.fullmatch(extension):
        raise CallbackError(f"--from {extension[:20]!r} is not an extension number")
    store: Store | None = None
    if callbacks is None:
        store = await Store.open(settings.database, max_size=1)
        callbacks = Callbacks(store.pool)
    try:
        call = await callbacks.missed_call(call_id)
    finally:
        if store is not None:
            await store.close()
    number = authorize(call, call_id, extension, cfg, datetime.now(UTC))
    if not cfg.callback_number:
        raise NotCallable("[agi] callback_number is not set: no neutral number to present")
    channel_id = f"cbd-{uuid.uuid4().hex}"
    action = originate_action(cfg, call_id, extension, number, channel_id)
    logger.info(
        "Originate: desk %s, then %s (missed call %d, channel %s)",
        extension,
        mask(number.e164),
        call_id,
        channel_id,
        extra={"action": "originate"},
    )
    reply = await _send(settings, cfg, action, cfg.desk_ring_seconds + 15)
    messages = reply if isinstance(reply, list) else [reply]
    first = messages[0]
    if first.get("response", "").lower() != "success":
        raise AmiError(f"AMI refused the Originate: {first.get('message', 'no reason given')}")
    final = next((m for m in messages if m.get("event") == "OriginateResponse"), None)
    if final is None:
        raise AmiError("AMI queued the Originate but sent no OriginateResponse")
    if final.get("response", "").lower() != "success":
        reason = final.get("reason", "")
        raise DeskUnavailable(
            f"desk {extension}: {_REASONS.get(reason, f'Originate failed (Reason {reason})')}"
        )
    return Originated(call_id, extension, channel_id, number)
