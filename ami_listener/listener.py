"""Wiring: AMI events -> one ordered queue -> the call tracker -> PostgreSQL.

Three tracked tasks, each logging its own failure:
- the AMI client's callback only enqueues (it must never raise or block: a raising callback drops
  the AMI connection, and a listener that stops reading is cut off by Asterisk);
- the consumer parses, feeds the tracker in arrival order and wakes for settle deadlines;
- the writer stores decided calls in order, holding them in memory while PostgreSQL is down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ami_listener import events as ev
from ami_listener.gaps import GapWatch
from ami_listener.tracker import CallTracker, TrackerConfig
from callback_desk.core import phone
from callback_desk.core.ami import AmiClient
from callback_desk.core.config import Settings
from callback_desk.core.exceptions import (
    AmiError,
    MalformedEvent,
    StoreError,
    StoreUnavailable,
)
from callback_desk.core.model import CallRecord

logger = logging.getLogger(__name__)

# Decided calls held in memory while the database is down; beyond this the oldest are logged
# and dropped (a disk spool is planned).
MAX_PENDING_WRITES = 100_000
# Events handled between two yields to the event loop.
CONSUMER_BATCH = 500


@dataclass(frozen=True, slots=True)
class LiveChannels:
    """The PBX's channels right after a reconnect (from CoreShowChannels)."""

    uniqueids: frozenset[str]


class CallSink(Protocol):
    async def record_call(self, pbx: str, call: CallRecord) -> bool: ...


def subscribe(client: AmiClient, sink: Callable[[Any], None], trace: bool = False) -> None:
    """Route the events the tracker reads (``events.SUBSCRIBED``) to ``sink``.

    One fast-path filter (a set lookup per frame) instead of a ``register_event`` per name.
    FullyBooted comes through a callback, as it is not one of the tracker's events.
    """
    client.fast_events = frozenset(name.lower() for name in ev.SUBSCRIBED)
    client.event_sink = _traced(sink) if trace else sink
    client.register_event("FullyBooted", lambda _client, message: sink(message))


def _traced(sink: Callable[[Any], None]) -> Callable[[Any], None]:
    def trace(headers: Any) -> None:
        # Whole frames carry phone numbers: only with [listener] trace = true, for short sessions.
        logger.debug("AMI frame %r", dict(headers))
        sink(headers)

    return trace


class Listener:
    def __init__(self, settings: Settings, sink: CallSink, gaps: GapWatch | None = None) -> None:
        self._settings = settings
        self._sink = sink
        # Heartbeats and gap reconciliation (ami_listener.gaps); None in tests of the stream.
        self.gaps = gaps
        self._pbx = settings.pbx.name
        self.tracker = CallTracker(
            TrackerConfig(
                inbound_contexts=frozenset(settings.pbx.inbound_contexts),
                country=settings.pbx.country,
                settle_seconds=settings.listener.settle_seconds,
                max_call_seconds=settings.listener.max_call_seconds,
                max_open_calls=settings.listener.max_open_calls,
            )
        )
        self._events: asyncio.Queue[tuple[Any, float]] = asyncio.Queue()
        self._writes: deque[CallRecord] = deque()
        self._write_ready = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._disconnected_at: float | None = None
        self._logins = 0
        self.client: AmiClient | None = None
        self.stats = {"events": 0, "malformed": 0, "decided": 0, "stored": 0, "duplicates": 0}

    # -- lifecycle -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Listen until :meth:`stop`; returns after pending decisions are written (bounded)."""
        ami = self._settings.ami
        self.client = AmiClient.for_settings(ami, on_state=self._on_ami_state)
        subscribe(self.client, self._enqueue, trace=self._settings.listener.trace)
        self._spawn(self._consume(), "consumer")
        self._spawn(self._write(), "writer")
        if self.gaps is not None:
            self._spawn(self.gaps.run(), "gaps")
        logger.info(
            "Listening to AMI %s:%s for PBX %r",
            ami.host,
            ami.port,
            self._pbx,
            extra={"action": "listener_start"},
        )
        self.client.connect()
        try:
            await self._stopping.wait()
        finally:
            await self._shutdown()

    def stop(self) -> None:
        self._stopping.set()

    async def wait_logged_in(self) -> None:
        while self.client is None:
            await asyncio.sleep(0.01)
        await self.client.logged_in.wait()

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "Listener task %s failed; stopping",
                task.get_name(),
                exc_info=task.exception(),
                extra={"action": "task_failed"},
            )
            self._stopping.set()

    async def _shutdown(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        consumer = [t for t in self._tasks if t.get_name() == "consumer"]
        for task in consumer:
            task.cancel()
        await asyncio.gather(*consumer, return_exceptions=True)
        # Calls already over are decided now; calls still in progress cannot be, yet.
        self._drain_events()
        self._queue_writes(self.tracker.flush_ended())
        if self.tracker.open_calls:
            logger.warning(
                "%d calls still in progress at shutdown are not recorded",
                self.tracker.open_calls,
                extra={"action": "open_on_shutdown"},
            )
        self._write_ready.set()
        writers = [t for t in self._tasks if t.get_name() == "writer"]
        try:
            async with asyncio.timeout(5):
                while self._writes and writers and not writers[0].done():
                    await asyncio.sleep(0.05)
        except TimeoutError:
            logger.error(
                "%d decided calls could not be written before shutdown",
                len(self._writes),
                extra={"action": "unwritten_on_shutdown"},
            )
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        logger.info("Listener stopped: %s", self.stats, extra={"action": "listener_stop"})

    # -- AMI side ------------------------------------------------------------------------------

    def _enqueue(self, headers: Any) -> None:
        self._events.put_nowait((headers, time.time()))

    def _on_ami_state(self, state: str) -> None:
        if self.gaps is not None and state in ("connected", "disconnected"):
            if state == "connected":
                self.gaps.logged_in()
            else:
                self.gaps.logged_out()
        if state == "disconnected" and self._disconnected_at is None:
            self._disconnected_at = time.monotonic()
        elif state == "connected":
            if self._logins:
                # Events during the outage are lost for good (AMI has no replay): ask the PBX
                # which channels still exist, so calls that ended meanwhile are not kept open.
                self._spawn(self._reconcile(), "reconcile")
            self._logins += 1

    async def _reconcile(self) -> None:
        assert self.client is not None
        try:
            async with asyncio.timeout(10):
                reply = await self.client.send_action({"Action": "CoreShowChannels"})
        except (TimeoutError, AmiError):
            logger.warning(
                "CoreShowChannels unanswered; open calls kept until they expire",
                extra={"action": "reconcile_failed"},
            )
            return
        messages = reply if isinstance(reply, list) else [reply]
        if messages and ev.header(messages[0], "response") == "Error":
            logger.warning(
                "Cannot list channels after reconnecting (%s): grant the AMI user read = "
                "system (see manager.conf.sample)",
                ev.header(messages[0], "message"),
                extra={"action": "reconcile_failed"},
            )
            return
        live = frozenset(
            ev.header(m, "uniqueid")
            for m in messages
            if ev.header(m, "event").lower() == "coreshowchannel"
        )
        # Through the event queue, so the snapshot is applied in stream order.
        self._events.put_nowait((LiveChannels(live), time.time()))

    # -- consumer ------------------------------------------------------------------------------

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            deadline = self.tracker.next_deadline()
            if self._events.empty():
                try:
                    async with asyncio.timeout_at(deadline):
                        item = await self._events.get()
                except TimeoutError:
                    item = None
                if item is not None:
                    self._handle(item, loop.time())
            else:
                # Work through a burst, but yield now and then: a loop that stops reading the
                # socket misses Ping replies and is cut off by Asterisk.
                now = loop.time()
                for _ in range(min(self._events.qsize(), CONSUMER_BATCH)):
                    self._handle(self._events.get_nowait(), now)
                await asyncio.sleep(0)
            if deadline is not None and deadline <= loop.time():
                self._queue_writes(self.tracker.due(loop.time()))

    def _drain_events(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._events.empty():
            self._handle(self._events.get_nowait(), loop.time())

    def _handle(self, item: tuple[Any, float], now: float) -> None:
        message, received = item
        if isinstance(message, LiveChannels):
            closed = self.tracker.reconcile(message.uniqueids, now)
            logger.info(
                "Reconciled with the PBX after reconnecting: %d calls ended meanwhile",
                closed,
                extra={"action": "reconciled"},
            )
            return
        self.stats["events"] += 1
        try:
            event = ev.parse(message, received)
        except MalformedEvent as exc:
            self.stats["malformed"] += 1
            logger.warning(
                "Skipping malformed AMI event: %s", exc, extra={"action": "malformed_event"}
            )
            return
        if event is None:
            return
        if isinstance(event, ev.FullyBooted):
            self._after_reconnect(event)
            return
        self._queue_writes(self.tracker.feed(event, now))

    def _after_reconnect(self, event: ev.FullyBooted) -> None:
        down_since, self._disconnected_at = self._disconnected_at, None
        if down_since is None or event.uptime is None:
            return
        away = time.monotonic() - down_since
        if event.uptime <= away + 5:
            # Asterisk restarted while we were away: every call we were following is gone.
            records = self.tracker.abandon_all()
            logger.warning(
                "Asterisk restarted (uptime %ss); closed %d open calls",
                event.uptime,
                len(records),
                extra={"action": "pbx_restart"},
            )
            self._queue_writes(records)

    # -- writer --------------------------------------------------------------------------------

    def _queue_writes(self, records: list[CallRecord]) -> None:
        for record in records:
            self.stats["decided"] += 1
            logger.info(
                "Call %s from %s: %s (%s)",
                record.linkedid,
                phone.mask(record.number),
                record.outcome,
                record.reason,
                extra={"action": "call_decided"},
            )
            if len(self._writes) >= MAX_PENDING_WRITES:
                lost = self._writes.popleft()
                logger.error(
                    "Write backlog full; dropped call %s",
                    lost.linkedid,
                    extra={"action": "write_dropped"},
                )
            self._writes.append(record)
        if records:
            self._write_ready.set()

    async def _write(self) -> None:
        delay = 0.5
        outage = False
        while True:
            await self._write_ready.wait()
            while self._writes:
                record = self._writes[0]
                try:
                    inserted = await self._sink.record_call(self._pbx, record)
                except StoreUnavailable as exc:
                    if not outage:
                        logger.error(
                            "Database unavailable, holding %d calls: %s",
                            len(self._writes),
                            exc,
                            extra={"action": "db_down"},
                        )
                        outage = True
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                except StoreError as exc:
                    logger.error(
                        "Database refused call %s, skipping it: %s",
                        record.linkedid,
                        exc,
                        extra={"action": "write_refused"},
                    )
                    self._writes.popleft()
                    continue
                if outage:
                    logger.info("Database back; writing held calls", extra={"action": "db_up"})
                    outage, delay = False, 0.5
                self._writes.popleft()
                self.stats["stored" if inserted else "duplicates"] += 1
            self._write_ready.clear()
