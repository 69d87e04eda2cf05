"""One FastAGI connection on the event loop: its environment, then commands and their replies.

Why not pyst2 here, when the classic AGI keeps it: pyst2 is blocking (it reads a file object), so
a FastAGI session on it needs a thread of its own. With 16 desks pressing ``*47`` at once that
cost ~7.5 ms of CPU per session to the caller count (thread hand-offs, a hop onto the loop per
database call, pyst2's per-command parsing), and the 16th desk heard the count after 230-254 ms;
with 200 menus held open it also means 200 parked threads. This class speaks the same protocol
(:mod:`agi.protocol`, shared with the classic AGI's pyst2 channel) as an :class:`asyncio.Protocol`:
a command is one ``transport.write``, a reply resolves one future, and a session waiting for a
key costs a coroutine and a socket. ``bench/agi.py`` measures both.

What it guarantees, as the thread version did: every reply has a time limit (``reply_timeout``;
a Dial gets the call's length), a reply line or a pile of unread input beyond
:data:`agi.protocol.MAX_LINE` ends the session, and a closed or silent Asterisk reads as
:class:`ChannelGone`, so the handler sets its status and ends cleanly.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from agi import protocol
from agi.exceptions import ChannelGone

logger = logging.getLogger(__name__)

# The longest call a callback may be (a Dial's reply comes when the call ends).
CALL_LIMIT = 4 * 3600.0


class FastAgiChannel(asyncio.Protocol):
    """The server's side of one connection. ``on_env(channel, head, env)`` is called once the
    environment has arrived (the server checks the peer, then starts the session or closes);
    until then the connection is the server's to time out or shed."""

    def __init__(
        self,
        on_env: Callable[[FastAgiChannel, dict[str, str]], None],
        on_made: Callable[[FastAgiChannel], None],
        reply_timeout: float,
        call_timeout: float,
        on_lost: Callable[[FastAgiChannel], None] = lambda _channel: None,
    ) -> None:
        self._on_env = on_env
        self._on_made = on_made
        self._on_lost = on_lost
        self._reply_timeout = reply_timeout
        self._call_timeout = call_timeout
        self.transport: asyncio.Transport | None = None
        self.env: dict[str, str] = {}
        self._env_done = False
        self._buf = b""
        self._waiter: asyncio.Future[protocol.Result] | None = None
        # One timer per connection, re-armed only when it fires early: a command moves the
        # deadline, not the timer (a timer per command was a tenth of the loop's work).
        self._deadline = 0.0
        self._timer: asyncio.TimerHandle | None = None
        # The hang-up flag apart from the channel, so that the reader's callback does not point
        # back at it (channel -> reader -> channel would be a cycle only the cyclic collector
        # frees, with the transport and socket in it: see _resolve).
        self._hangup = protocol.HangupFlag()
        self._replies = protocol.ReplyReader(self._hangup.set)
        self.closed = False

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._on_made(self)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if not self._env_done:
            head, sep, rest = self._buf.partition(b"\n\n")
            if not sep:
                if len(self._buf) > protocol.MAX_ENV:
                    self.refuse("the AGI environment is too long")
                return
            if len(head) > protocol.MAX_ENV:
                self.refuse("the AGI environment is too long")
                return
            self._env_done = True
            self._buf = rest
            lines = head.decode("utf-8", "replace").split("\n")
            if len(lines) > protocol.MAX_ENV_LINES:
                self.refuse("the AGI environment is too long")
                return
            self.env = protocol.parse_env(lines)
            self._on_env(self, self.env)
        self._drain()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._fail(ChannelGone("Asterisk closed the FastAGI connection"))
        self._on_lost(self)

    @property
    def has_env(self) -> bool:
        return self._env_done

    @property
    def hung_up(self) -> bool:
        return self._hangup.is_set()

    # -- the server's side -----------------------------------------------------------------
    def refuse(self, reason: str) -> None:
        logger.warning(
            "Refused a FastAGI connection: %s", reason, extra={"action": "agi_refused_peer"}
        )
        self.close()

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.abort()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._fail(ChannelGone("the FastAGI connection is closed"))

    def socket(self) -> Any:
        assert self.transport is not None
        return self.transport.get_extra_info("socket")

    # -- replies ---------------------------------------------------------------------------
    def _drain(self) -> None:
        """Hand complete lines to the reply reader while a command waits for its reply; a
        ``HANGUP`` notice is taken at any time (the next command then knows)."""
        # find, not `b"\n" in`: bytes' `in` first tries its argument as an int, and the
        # TypeError it raises and clears costs more than the search (5 % of the FastAGI
        # server's instructions when 16 desks arrive at once: bench/agi.py under callgrind).
        while (end := self._buf.find(b"\n")) >= 0:
            if self._waiter is None and not self._buf.startswith(b"HANGUP\n"):
                break
            raw, self._buf = self._buf[:end], self._buf[end + 1 :]
            try:
                result = self._replies.feed(raw.decode("utf-8", "replace").strip())
            except Exception as exc:
                self._fail(exc)
                continue
            if result is not None:
                self._resolve(result)
        if len(self._buf) > protocol.MAX_LINE:
            logger.warning("FastAGI reply line too long; ending the session")
            self.close()

    # The waiting future is never held in a local of a frame an error can pass through
    # (_drain's, execute's): a reply's error (the hang-up's ChannelGone, a 520) stays on its
    # future, and error -> traceback -> frame -> future -> error would be a cycle holding the
    # whole session (its frames, tasks, transport), ~70 objects that only the cyclic
    # collector frees, in pauses of tens of milliseconds every 150 or so sessions
    # (bench/agi.py, 16 desks at once).
    def _resolve(self, result: protocol.Result) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(result)

    def _fail(self, exc: BaseException) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def _check_deadline(self) -> None:
        self._timer = None
        if self._waiter is None or self.closed:
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self._deadline:
            self._timer = loop.call_at(self._deadline, self._check_deadline)
            return
        logger.warning(
            "Asterisk sent no reply in time; ending the session",
            extra={"action": "agi_reply_timeout"},
        )
        self.close()

    async def execute(self, verb: str, line: str) -> protocol.Result:
        protocol.check_alive(verb, self.hung_up)
        if self.closed or self.transport is None:
            raise ChannelGone("the FastAGI connection is closed")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[protocol.Result] = loop.create_future()
        self._waiter = waiter
        limit = self._call_timeout if verb == "EXEC" else self._reply_timeout
        self._deadline = loop.time() + limit
        if self._timer is None:
            self._timer = loop.call_at(self._deadline, self._check_deadline)
        elif self._timer.when() > self._deadline:  # a Dial's long limit, then a short one
            self._timer.cancel()
            self._timer = loop.call_at(self._deadline, self._check_deadline)
        try:
            self.transport.write(line.encode("utf-8"))
            if self._buf:
                self._drain()  # a reply may be buffered already
            return await waiter
        finally:
            if self._waiter is waiter:
                self._waiter = None
            del waiter  # see _resolve

    # -- agi.handlers.AgiLike --------------------------------------------------------------
    async def answer(self) -> None:
        await self.execute("ANSWER", protocol.ANSWER)

    async def stream_file(self, filename: str, escape_digits: str) -> str:
        line = protocol.stream_file(filename, escape_digits)
        return protocol.key(await self.execute("STREAM FILE", line))

    async def wait_for_digit(self, timeout: int) -> str:
        line = protocol.wait_for_digit(timeout)
        return protocol.key(await self.execute("WAIT FOR DIGIT", line))

    async def say_number(self, number: int, escape_digits: str) -> str:
        line = protocol.say_number(number, escape_digits)
        return protocol.key(await self.execute("SAY NUMBER", line))

    async def say_digits(self, digits: str, escape_digits: str) -> str:
        line = protocol.say_digits(digits, escape_digits)
        return protocol.key(await self.execute("SAY DIGITS", line))

    async def say_datetime(self, seconds: int, escape_digits: str, format: str, zone: str) -> str:
        line = protocol.say_datetime(seconds, escape_digits, format, zone)
        return protocol.key(await self.execute("SAY DATETIME", line))

    async def set_variable(self, name: str, value: str) -> None:
        await self.execute("SET VARIABLE", protocol.set_variable(name, value))

    async def get_variable(self, name: str) -> str:
        return protocol.variable(await self.execute("GET VARIABLE", protocol.get_variable(name)))

    async def appexec(self, application: str, options: str) -> str:
        line = protocol.exec_app(application, options)
        return protocol.app_result(await self.execute("EXEC", line))
