"""The desk-phone menu and the callback dial: pure logic over an AGI-like and a desk-like object.

Nothing here touches sockets, pipes or asyncpg: ``agi`` is an AGI channel (:class:`AgiLike`)
and ``desk`` the database (:class:`Desk`), both awaited. The same coroutine runs on the FastAGI
server's event loop and, in a classic AGI process, is stepped without one
(:func:`agi.classic.drive`: there nothing it awaits ever suspends).

Arguments (AGI(...,mode,arg)):  ``menu,<extension>``  or  ``dial,<missed call id>,<extension>``.
The number to dial always comes from the database, by id; never from the channel.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from agi import protocol
from agi import variables as var
from agi.config import AgiSettings
from agi.exceptions import ChannelGone
from agi.prompts import WHEN_OLDER, WHEN_RECENT, WHEN_THIS_WEEK, ordinal
from agi.queries import MissedCall, WaitingCaller
from callback_desk.core import lazylog, shown
from callback_desk.core.exceptions import CallbackError, OutOfScope, StoreError, UnknownCall
from callback_desk.core.phone import mask
from callback_desk.core.typeshim import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from agi.dialing import CallbackNumber
    from callback_desk.core.model import Disposition

logger = lazylog.get(__name__)  # not logging: see callback_desk.core.lazylog

T_co = TypeVar("T_co", covariant=True)

KEYS = protocol.KEYS
# 6 is "next" as 2 is: the stock prompt that says "next" says "Press 6" (agi/prompts.py).
MENU_KEYS = ("1", "2", "3", "6", "7", "#", "*")
NEXT_KEYS = ("2", "6")
_EXTENSION = re.compile(r"[0-9]{1,10}", re.ASCII)
_CALL_ID = re.compile(r"[0-9]{1,18}", re.ASCII)
# A channel id as Asterisk writes one ("1700000000.42") or click-to-call assigns it
# ("cbd-<hex>"); anything else (or longer) is not stored.
_CHANNEL_ID = re.compile(r"[A-Za-z0-9._-]{1,64}", re.ASCII)
# ANSWEREDTIME is whole seconds; a day is a generous bound for one callback.
_TALK = re.compile(r"[0-9]{1,6}", re.ASCII)


class AgiLike(Protocol):
    """One AGI channel: :class:`agi.fastagi.FastAgiChannel` (FastAGI) or
    :class:`agi.classic.PystChannel` (pyst2, classic). A method returns the key pressed during
    a prompt ('' for none) and raises :class:`ChannelGone` when the channel is gone."""

    env: dict[str, str]

    async def answer(self) -> None: ...
    async def stream_file(self, filename: str, escape_digits: str) -> str: ...
    async def wait_for_digit(self, timeout: int) -> str: ...
    async def say_number(self, number: int, escape_digits: str) -> str: ...
    async def say_digits(self, digits: str, escape_digits: str) -> str: ...
    async def say_datetime(
        self, seconds: int, escape_digits: str, format: str, zone: str
    ) -> str: ...
    async def set_variable(self, name: str, value: str) -> None: ...
    async def get_variable(self, name: str) -> str: ...
    async def appexec(self, application: str, options: str) -> str: ...


class Pending(Protocol[T_co]):
    """An answer on its way while the menu speaks: how many wait while the desk is answered
    (:meth:`Desk.count_soon`), who waits while the count is said (:meth:`Desk.waiting_soon`)."""

    async def result(self) -> T_co:
        """The answer; raises what reading it raised (a :class:`StoreError`)."""
        ...

    async def close(self) -> None:
        """Stop reading if it still is, and wait until it has stopped. Always called."""
        ...


class Desk(Protocol):
    """The database as the menu sees it: :class:`agi.queries.Callbacks` (over the classic AGI's
    one synchronous connection, or asyncpg) or, on the FastAGI server's event loop,
    :class:`agi.runtime.TimedDesk` around it."""

    async def waiting_count(self, scope: Sequence[str], since: datetime, until: datetime) -> int:
        """How many callers :meth:`waiting_soon` lists for the same arguments."""
        ...

    def count_soon(self, scope: Sequence[str], since: datetime, until: datetime) -> Pending[int]:
        """:meth:`waiting_count`, read from now on (FastAGI) or when first asked for (classic)."""
        ...

    def waiting_soon(
        self, scope: Sequence[str], since: datetime, until: datetime
    ) -> Pending[list[WaitingCaller]]:
        """Callers awaiting a callback in ``[since, until)`` whom a desk phone may dial, most
        recent first: read from now on (FastAGI) or when first asked for (classic)."""
        ...

    async def missed_call(self, call_id: int) -> MissedCall | None: ...
    async def start_attempt(self, call_id: int, extension: str, channel_id: str | None) -> int: ...
    async def finish_attempt(
        self, attempt_id: int, dial_status: str, talk_seconds: int
    ) -> bool: ...
    async def discard_attempt(self, attempt_id: int) -> bool: ...
    async def dispose(
        self, call_id: int, number_key: str | None, disposition: Disposition, extension: str
    ) -> int: ...


Clock = Callable[[], datetime]


async def handle(agi: AgiLike, desk: Desk, cfg: AgiSettings, tz: ZoneInfo, clock: Clock) -> str:
    """Run one AGI session to its end; returns (and sets) CALLBACK_DESK_STATUS. Never raises
    for a hang-up, a refused number or a database outage: the dialplan branches on the status."""
    session = _Session(agi, desk, cfg, tz, clock)
    mode = agi.env.get("agi_arg_1", "menu")
    try:
        if mode == "menu":
            status = await session.menu(agi.env.get("agi_arg_2", ""))
        elif mode == "dial":
            status = await session.dial_by_id(
                agi.env.get("agi_arg_2", ""), agi.env.get("agi_arg_3", "")
            )
        else:
            logger.error("Unknown AGI mode %r (expected menu or dial)", mode[:20])
            status = var.FAILED
    except ChannelGone:
        logger.info("Desk phone hung up", extra={"action": "agi_hangup"})
        status = var.HANGUP
    except StoreError as exc:
        logger.error("Database trouble, apologising: %s", exc, extra={"action": "agi_db_down"})
        await session.say("sorry")
        status = var.FAILED
    except CallbackError as exc:
        logger.warning("Callback refused: %s", exc, extra={"action": "agi_refused"})
        await session.say("refused")
        status = var.REFUSED
    await session.set_status(status)
    return status


class _Session:
    def __init__(
        self, agi: AgiLike, desk: Desk, cfg: AgiSettings, tz: ZoneInfo, clock: Clock
    ) -> None:
        self.agi = agi
        self.desk = desk
        self.cfg = cfg
        self.tz = tz
        self.clock = clock
        self.last_dialstatus = ""

    # -- output ----------------------------------------------------------------------------
    async def play(self, step: str, n: int | None = None) -> str:
        """Play a menu step; returns a key pressed during it, or ''."""
        for sound in self.cfg.sounds[step]:
            if sound == "{n}" or (sound == "{nth}" and not ordinal(n or 0)):
                key = await self.agi.say_number(n if n is not None else 0, KEYS)
            elif sound == "{nth}":
                key = ""
                for part in ordinal(n or 0):
                    key = key or await self.agi.stream_file(part, KEYS)
            else:
                key = await self.agi.stream_file(sound, KEYS)
            if key:
                return key
        return ""

    async def play_count(self, waiting: int) -> str:
        """How many callers are waiting, as a sentence: none, one, or several."""
        if waiting == 0:
            return await self.play("none")
        return await self.play("count_one" if waiting == 1 else "count", waiting)

    async def say(self, step: str) -> None:
        """Best effort, for the last words of a session: a hang-up here is not an error."""
        try:
            await self.play(step)
        except ChannelGone:
            pass

    async def set_status(self, status: str) -> None:
        try:
            await self.agi.set_variable(var.STATUS, status)
            await self.agi.set_variable(var.DIALSTATUS, self.last_dialstatus)
        except ChannelGone:
            logger.info("Could not set %s=%s: the AGI session is gone", var.STATUS, status)

    async def ask(self, announce: Callable[[], Awaitable[str]], early: str = "") -> str:
        """Announce, then wait for a key; repeats on silence, complains on a stray key.
        ``early`` is a key pressed before (during the count): a menu answered in advance.
        Returns '' when the retries are used up."""
        if early in MENU_KEYS:
            return early
        for _ in range(self.cfg.retries):
            key = await announce() or await self.play("options")
            if not key:
                key = await self.agi.wait_for_digit(int(self.cfg.digit_timeout * 1000))
            if key in MENU_KEYS:
                return key
            if key:
                await self.play("invalid")
        return ""

    async def announce(self, caller: WaitingCaller) -> str:
        # The number as the inbox and the report write it (core.shown): the national digits at
        # home, "plus" and the international digits from abroad.
        written = shown.number(caller.number_key, caller.number, self.cfg.country)
        key = await self.play("number")
        if written.startswith("+"):
            key = key or await self.play("plus")
        digits = "".join(ch for ch in written if ch.isascii() and ch.isdigit())
        key = key or await self.agi.say_digits(digits, KEYS)
        key = key or await self.play("received")
        key = key or await self.agi.say_datetime(
            int(caller.last_at.timestamp()),
            KEYS,
            when_format(caller.last_at, self.clock(), self.tz),
            self.tz.key,
        )
        if caller.calls > 1:
            key = key or await self.play("times", caller.calls)
        return key

    # -- modes -----------------------------------------------------------------------------
    async def menu(self, extension: str) -> str:
        if not _EXTENSION.fullmatch(extension):
            raise OutOfScope("the menu needs the desk's extension as its second argument")
        scope = self.cfg.scope(extension)
        # How many, then who: counting is a fraction of summarising every caller (a desk
        # hearing every line of a busy PBX has thousands), and the list is read while the count
        # is being said. Two reads, a moment apart: the list is what the menu walks, and a
        # caller returned in between is simply not on it (see docs/calling-back.md). Dialling
        # re-reads the call either way (call_back).
        since, until = self._window()
        # The count is asked before the desk is answered, so that on the FastAGI server the
        # query and ANSWER's round trip to Asterisk overlap: the count is what the desk waits
        # for first (bench/agi.py, 16 desks at once).
        counting = self.desk.count_soon(scope, since, until) if scope else None
        try:
            await self.agi.answer()
            waiting = 0 if counting is None else await counting.result()
        finally:
            if counting is not None:
                await counting.close()
        soon = self.desk.waiting_soon(scope, since, until) if waiting else None
        try:
            early = await self.play_count(waiting)
            # After the count: the desk hears it first (the classic AGI imports logging here).
            logger.info(
                "Menu (feature code %s) for extension %s",
                self.cfg.feature_code,
                extension,
                extra={"action": "agi_menu"},
            )
            callers = [] if soon is None else await soon.result()
        finally:
            if soon is not None:
                await soon.close()
        if not callers:
            if waiting:  # every caller counted was returned while the count was said
                await self.play_count(0)
            await self.play("goodbye")
            return var.OK
        i = 0
        while i < len(callers):
            caller = callers[i]
            key, early = await self.ask(partial(self.announce, caller), early), ""
            if key == "1":
                await self.call_back(caller.call_id, extension, None)
                callers.pop(i)
            elif key in NEXT_KEYS:
                i += 1
            elif key in ("3", "7"):
                from callback_desk.core.model import Disposition  # lazy: see agi.queries

                disposition = Disposition.HANDLED if key == "3" else Disposition.NEVER
                await self.desk.dispose(caller.call_id, caller.number_key, disposition, extension)
                logger.info(
                    "Extension %s marked %s as %s",
                    extension,
                    mask(caller.number_key),
                    disposition,
                    extra={"action": "agi_disposition"},
                )
                await self.play("marked")
                callers.pop(i)
            elif key == "#":
                continue
            else:  # "*" or silence after the retries
                await self.play("goodbye")
                return var.OK
        # The end of the list: who is still waiting now (skipped, or called back without an
        # answer), asked again rather than counted here.
        await self.play_count(await self._count(scope, *self._window()))
        await self.play("goodbye")
        return var.OK

    async def dial_by_id(self, raw_id: str, extension: str) -> str:
        if not _CALL_ID.fullmatch(raw_id) or not _EXTENSION.fullmatch(extension):
            raise UnknownCall("dial needs a missed-call id and the desk's extension")
        raw_channel = self.agi.env.get("agi_uniqueid", "")
        channel_id = raw_channel if _CHANNEL_ID.fullmatch(raw_channel) else None
        if raw_channel and channel_id is None:
            logger.warning(
                "Ignoring a malformed channel id (%d characters)",
                len(raw_channel),
                extra={"action": "agi_bad_channel_id"},
            )
        await self.call_back(int(raw_id), extension, channel_id)
        return var.OK

    async def call_back(self, call_id: int, extension: str, channel_id: str | None) -> str:
        """Re-read the call and apply the one callback policy (:mod:`agi.policy`) right before
        dialling: another desk may have returned it, or marked it never, a moment ago."""
        # Loaded when a desk first dials, not before the count: the classic AGI's start
        # (agi/classic.py) needs neither the policy nor the dial rules.
        from agi.policy import authorize

        number = authorize(
            await self.desk.missed_call(call_id), call_id, extension, self.cfg, self.clock()
        )
        return await self.callback(call_id, number, extension, channel_id)

    def _window(self) -> tuple[datetime, datetime]:
        """The look-back up to now: the calls the menu considers."""
        now = self.clock()
        return now - timedelta(days=self.cfg.lookback_days), now

    async def _count(self, scope: Sequence[str], since: datetime, until: datetime) -> int:
        return await self.desk.waiting_count(scope, since, until) if scope else 0

    async def callback(
        self, call_id: int, number: CallbackNumber, extension: str, channel_id: str | None
    ) -> str:
        """Record the attempt, Dial(), record the outcome — even after a hang-up."""
        from agi.dialing import dial_plan  # lazy, as authorize above
        from callback_desk.core.model import DialStatus  # lazy: see agi.queries

        plan = dial_plan(number, self.cfg)
        # DIALSTATUS is cleared first: app_dial always sets it, so an empty value afterwards
        # means Dial() never ran (the desk hung up first) and the attempt is withdrawn.
        for name, value in (*plan.variables, (var.DIAL_RESULT, "")):
            await self.agi.set_variable(name, value)
        attempt = await self.desk.start_attempt(call_id, extension, channel_id)
        logger.info(
            "Extension %s calls back %s (missed call %d, attempt %d)",
            extension,
            mask(number.e164),
            call_id,
            attempt,
            extra={"action": "agi_dial"},
        )
        status, talk, gone = "", 0, False
        try:
            try:
                await self.agi.appexec("Dial", plan.dial_args)
            except ChannelGone:
                gone = True  # the desk hung up during Dial(): its variables are still readable
            status = dial_status(await self.agi.get_variable(var.DIAL_RESULT))
            talk = talk_seconds(await self.agi.get_variable(var.ANSWERED_TIME))
        except ChannelGone:
            gone = True  # Asterisk closed the session: the outcome is unknown
            status = status or DialStatus.UNKNOWN
        finally:
            if status:
                await self.desk.finish_attempt(attempt, status, talk)
            else:
                await self.desk.discard_attempt(attempt)
            self.last_dialstatus = status
            logger.info(
                "Callback attempt %d ended: %s after %ds",
                attempt,
                status or "not dialled",
                talk,
                extra={"action": "agi_dial_end"},
            )
        if gone:
            raise ChannelGone("the desk hung up")
        return status


def when_format(moment: datetime, now: datetime, tz: ZoneInfo) -> str:
    """SAY DATETIME format: 'today at 3 15 P.M.', 'Tuesday at 3 15 P.M.', 'March fourth at ...'."""
    days = (now.astimezone(tz).date() - moment.astimezone(tz).date()).days
    if days <= 1:
        return WHEN_RECENT
    if days < 7:
        return WHEN_THIS_WEEK
    return WHEN_OLDER


def dial_status(raw: str) -> str:
    """DIALSTATUS as app_dial sets it; '' when Dial() never ran; UNKNOWN for anything else (the
    peer is Asterisk, but a reply is still input: it reaches the database and the dialplan)."""
    if raw == "":
        return raw
    from callback_desk.core.model import DialStatus  # lazy: see agi.queries

    status = DialStatus.parse(raw)
    if status is not DialStatus.UNKNOWN:
        return status.value
    logger.warning(
        "Unexpected DIALSTATUS (%d characters)", len(raw), extra={"action": "agi_bad_reply"}
    )
    return status.value


def talk_seconds(raw: str) -> int:
    """ANSWEREDTIME in whole seconds; 0 for anything that is not (1e999, NaN, -5, '٣')."""
    if raw == "":
        return 0
    if _TALK.fullmatch(raw):
        return int(raw)
    logger.warning(
        "Unexpected ANSWEREDTIME (%d characters)", len(raw), extra={"action": "agi_bad_reply"}
    )
    return 0
