"""The one callback policy: may this desk call this missed call back, and at which number.

Every path that dials goes through :func:`authorize` — the menu's key 1, the ``dial`` mode
(click-to-call's second leg), click-to-call's ``originate`` and anything later (the web inbox) —
so the four checks are written once, in this order:

1. the call exists (by id: the number always comes from the database, never from the channel);
2. it is in scope: on a line the desk's extension hears (``[agi.extensions]``);
3. it is still awaiting a callback: not returned, not marked never/handled, within the
   look-back (``[awaiting] lookback_days``, the one definition of
   :mod:`callback_desk.core.awaiting`) — an attempt that is withdrawn leaves no row, so without
   this check ``dial`` would ring a caller who was already called back or asked never to be;
4. it is callable and valid (:func:`agi.dialing.validate`: allow-list, type, length).

Pure: the caller fetches the :class:`MissedCall` and passes the clock's ``now``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from agi.config import AgiSettings
from agi.dialing import CallbackNumber, validate
from agi.queries import MissedCall
from callback_desk.core.exceptions import NotAwaiting, NotCallable, OutOfScope, UnknownCall


def authorize(
    call: MissedCall | None, call_id: int, extension: str, cfg: AgiSettings, now: datetime
) -> CallbackNumber:
    """The number to dial for ``call``, or the :class:`CallbackError` saying why not."""
    if call is None:
        raise UnknownCall(f"no missed call has id {call_id}")
    if not call.heard_by(cfg.scope(extension)):
        raise OutOfScope(f"missed call {call.id} is not on a line extension {extension} hears")
    if call.returned_at is not None:
        raise NotAwaiting(
            f"missed call {call.id} is not awaiting a callback "
            "(already returned, or marked never/handled)"
        )
    if call.started_at < now - timedelta(days=cfg.lookback_days):
        raise NotAwaiting(
            f"missed call {call.id} is older than the look-back ([awaiting] lookback_days = "
            f"{cfg.lookback_days})"
        )
    if not call.callable or call.number_key is None:
        raise NotCallable(f"missed call {call.id} has no callable number (withheld or malformed)")
    return validate(call.number_key, cfg)
