"""panoramisk, hardened where it falls short for a long-running listener.

- Frames are decoded with an incremental UTF-8 decoder: panoramisk decodes each TCP read on its
  own with errors='ignore', so a character split across two reads vanished ("José" -> "Jos").
- Reconnects back off exponentially up to a cap instead of every 2 s forever, and a refused
  login is logged as the configuration mistake it is.
- A watchdog sends Ping and drops the link when no reply comes back: panoramisk sends Pings but
  never checks the answers, so a silent PBX went unnoticed.
- Events the listener reads take a fast path: one dict per frame, handed to a synchronous sink.
  panoramisk builds a case-insensitive Message for every frame and then tries every registered
  pattern's regex against it; on a PBX where most frames are noise (VarSet, RTCP...) that cost
  the listener two thirds of its throughput. Frames nobody reads are dropped unparsed; responses
  to our actions and the events panoramisk itself needs still go through panoramisk.

The Manager must be created inside the running loop (panoramisk 1.4 predates Python 3.10's
loop changes).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from panoramisk import Manager
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from callback_desk.core.exceptions import os_reason

logger = logging.getLogger(__name__)

_EOM = "\r\n\r\n"
# panoramisk reacts to these itself (reconnect on Shutdown, queued actions on FullyBooted).
_PANORAMISK_EVENTS = frozenset({"shutdown", "fullybooted"})

EventSink = Callable[[dict[str, str]], None]


def parse_frame(frame: str) -> dict[str, str]:
    """``Key: Value`` lines to a dict with lower-case keys; a repeated key keeps its last value."""
    headers: dict[str, str] = {}
    for line in frame.split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            headers[key.lower()] = value
    return headers


class Utf8AmiProtocol(AMIProtocol):  # type: ignore[misc]
    """AMI framing with a decoder that keeps multi-byte characters split across reads."""

    version: str | None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""

    def data_received(self, data: bytes) -> None:
        text = self._buffer + self._decoder.decode(data)
        if self.version is None and text.startswith("Asterisk Call Manager/"):
            banner, sep, rest = text.partition("\r\n")
            if not sep:
                self._buffer = text
                return
            self.version = banner.partition("/")[2].strip()
            text = rest
        *frames, self._buffer = text.split(_EOM)
        factory = self.factory
        for frame in frames:
            frame = frame.strip("\r\n")
            if frame.startswith("Event: ") and "\r\nActionID: " not in frame:
                end = frame.find("\r\n")
                name = (frame[7:end] if end >= 0 else frame[7:]).strip().lower()
                if name not in _PANORAMISK_EVENTS:
                    if name in factory.fast_events:
                        factory.event_sink(parse_frame(frame))
                    continue
            message = Message.from_line(frame)
            if message is not None:
                self.handle_message(message)


class AmiClient(Manager):  # type: ignore[misc]
    """A panoramisk Manager with backoff, login diagnostics and a Ping watchdog."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        ping_interval: float,
        reconnect_max: float,
        on_state: Callable[[str], None] | None = None,
        event_sink: EventSink | None = None,
        fast_events: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(
            loop=asyncio.get_running_loop(),
            host=host,
            port=port,
            username=username,
            secret=secret,
            protocol_factory=Utf8AmiProtocol,
            # Our watchdog pings and checks the replies; panoramisk's own pinger is parked.
            ping_delay=10**9,
            ping_interval=10**9,
            reconnect_timeout=1,
            on_login=self._logged_in,
            on_disconnect=self._disconnected,
            log=logging.getLogger("panoramisk.manager"),
        )
        self.event_sink: EventSink = event_sink or (lambda headers: None)
        # Lower-case names of the events delivered to event_sink.
        self.fast_events = frozenset(name.lower() for name in fast_events)
        self._ping_interval = ping_interval
        self._reconnect_max = reconnect_max
        self._on_state = on_state or (lambda state: None)
        self._attempt = 0
        self._watchdog: asyncio.Task[None] | None = None
        self._closing = False
        self.logged_in = asyncio.Event()
        # Why the last connection attempt failed ("Connection refused"), for diagnostics.
        self.last_error = ""

    # panoramisk calls connect() for the first attempt and every retry.
    def connect(
        self, run_forever: bool = False, on_startup: Any = None, on_shutdown: Any = None
    ) -> Any:
        if self._closing:
            return None
        self._attempt += 1
        self.reconnect_timeout = min(self._reconnect_max, 2.0 ** min(self._attempt, 16) / 2)
        if self._attempt > 1:
            logger.info(
                "Connecting to AMI %s:%s (attempt %d)",
                self.config["host"],
                self.config["port"],
                self._attempt,
                extra={"action": "ami_reconnect"},
            )
        return super().connect()

    def connection_made(self, future: asyncio.Future[Any]) -> None:
        # panoramisk logs a bare "Not able to reconnect": say why, and where.
        exc = None if future.cancelled() else future.exception()
        if isinstance(exc, OSError):
            self.last_error = os_reason(exc)
            logger.error(
                "Cannot reach AMI at %s:%s: %s; retrying in %.0f s",
                self.config["host"],
                self.config["port"],
                self.last_error,
                self.reconnect_timeout,
                extra={"action": "ami_unreachable"},
            )
            self._on_state("unreachable")
            self.loop.call_later(self.reconnect_timeout, self.connect)
            return
        super().connection_made(future)

    def login(self, future: asyncio.Future[Any]) -> bool:
        if future.cancelled() or future.exception() is not None:
            return False
        ok = bool(super().login(future))
        if not ok:
            logger.error(
                "AMI login as %r refused by %s:%s: check [ami] username/secret and manager.conf",
                self.config["username"],
                self.config["host"],
                self.config["port"],
                extra={"action": "ami_login_refused"},
            )
            self._on_state("login_refused")
            if self.protocol is not None:
                self.protocol.transport.close()
        return ok

    def _logged_in(self, _manager: Any) -> None:
        logger.info(
            "Logged in to AMI %s:%s",
            self.config["host"],
            self.config["port"],
            extra={"action": "ami_login"},
        )
        self._attempt = 0
        self.logged_in.set()
        self._on_state("connected")
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.create_task(self._watch(), name="ami-watchdog")

    def _disconnected(self, _manager: Any, exc: Any) -> None:
        self.logged_in.clear()
        if not self._closing:
            logger.warning(
                "AMI connection to %s:%s lost",
                self.config["host"],
                self.config["port"],
                extra={"action": "ami_disconnect"},
            )
            self._on_state("disconnected")

    async def _watch(self) -> None:
        while self.logged_in.is_set() and not self._closing:
            await asyncio.sleep(self._ping_interval)
            if not self.logged_in.is_set() or self.protocol is None:
                return
            try:
                async with asyncio.timeout(self._ping_interval):
                    await self.send_action({"Action": "Ping"})
            except TimeoutError:
                logger.warning(
                    "AMI did not answer Ping within %.0f s; reconnecting",
                    self._ping_interval,
                    extra={"action": "ami_ping_timeout"},
                )
                self.protocol.transport.abort()
                return

    async def aclose(self) -> None:
        self._closing = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
        self.close()
