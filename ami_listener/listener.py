"""Wiring: AMI events -> one bounded, ordered queue -> call tracker -> spool -> PostgreSQL.

Tracked tasks; any unexpected failure of one ends :meth:`Listener.run` with
:class:`ListenerFailed` (``listen`` exits 1 and systemd restarts it):
- the AMI client (``callback_desk/core/ami.py``) hands the event frames of each read to a
  synchronous sink that only enqueues (it runs inside the client's read loop: it must never
  raise or block).
  Past ``MAX_QUEUED`` events it pauses reading the socket until the consumer has caught up:
  the kernel's buffers hold the burst instead of our heap;
- the consumer parses, feeds the tracker in arrival order and wakes for settle deadlines;
- the writer appends decided calls to the spool (fsynced on local disk: from then on they
  count as recorded), then commits the oldest spooled calls to PostgreSQL in batches and
  forgets them. While PostgreSQL is down the spool grows on disk, not in memory.
- the reconcile after a reconnect (CoreShowChannels) is best effort: its failure is logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Protocol

from ami_listener import events as ev
from ami_listener.gaps import GapWatch
from ami_listener.spool import Spool, Spooled
from ami_listener.tracker import CallTracker, TrackerConfig
from callback_desk.core import phone
from callback_desk.core.ami import AmiClient, parse_frame
from callback_desk.core.config import Settings
from callback_desk.core.exceptions import (
    AmiError,
    CallbackDeskError,
    ListenerFailed,
    MalformedEvent,
    SchemaError,
    SpoolError,
    SpoolFull,
    StoreError,
    StoreUnavailable,
)
from callback_desk.core.model import CallRecord, Outcome

logger = logging.getLogger(__name__)
_DECIDED = {"action": "call_decided"}  # the per-call line's extra, built once
_UNLISTED = {"action": "calls_decided"}

# Events queued before reading from AMI pauses (back-pressure); reading resumes below half.
MAX_QUEUED = 10_000
# Events handled between two yields to the event loop (the writer and pings get their turn):
# about what one read of the socket brings (256 KiB), so that the queue does not keep growing
# until reading pauses in a burst.
CONSUMER_BATCH = 2000
# Decided calls waiting for the spool before the consumer waits for the writer.
MAX_DECIDED = 5_000
# While the spool is full, decided calls wait in memory up to this many; beyond, each one
# dropped is logged at ERROR with its Linkedid.
MAX_UNSPOOLED = 100_000
# Calls per PostgreSQL statement, and spooled calls mirrored in memory (the rest is read back
# from disk when its turn comes).
WRITE_BATCH = 1_000
MIRRORED = 20_000
# Seconds allowed at shutdown for spooled calls to reach PostgreSQL (systemd's TimeoutStopSec
# is 15); what does not make it stays in the spool for the next start.
SHUTDOWN_WRITE_SECONDS = 5.0
# Missed calls logged one line each at INFO per second of the listener's clock. A PBX decides a
# few calls a second at most, so each gets its line; in a burst (a backlog after an outage, a
# benchmark), the rest of that second's are counted in one INFO line per consumer batch and
# logged one by one at DEBUG (-vv). A line costs about 35 µs on a small machine: at thousands of
# calls a second, a seventh of the listener's time went to lines nobody reads one by one.
LISTED_PER_SECOND = 20


@dataclass(frozen=True, slots=True)
class LiveChannels:
    """The PBX's channels right after a reconnect (from CoreShowChannels)."""

    uniqueids: frozenset[str]


class CallSink(Protocol):
    async def record_calls(self, pbx: str, calls: Sequence[CallRecord]) -> int:
        """Store calls (no linkedid twice); returns how many were new."""
        ...


def subscribe(client: AmiClient, sink: Callable[[list[str]], None], trace: bool = False) -> None:
    """Route the frames of the events the tracker reads (``events.SUBSCRIBED``) to ``sink``, as
    text, those of one read together: the consumer parses each one when it gets to it.

    One fast-path filter (a set lookup per frame) instead of a ``register_event`` per name.
    FullyBooted is one of them: the listener reads its Uptime after every login.
    """
    client.fast_events = frozenset(name.lower() for name in ev.SUBSCRIBED)
    client.fast_filters = dict(ev.RAW_FILTERS)
    client.frames_sink = _traced(sink) if trace else sink


def _traced(sink: Callable[[list[str]], None]) -> Callable[[list[str]], None]:
    def trace(frames: list[str]) -> None:
        # Whole frames carry phone numbers: only with [listener] trace = true, for short sessions.
        for frame in frames:
            logger.debug("AMI frame %r", parse_frame(frame))
        sink(frames)

    return trace


def describe(exc: BaseException) -> str:
    """A failure in one line that carries no caller values.

    Our own exceptions' texts are written to be safe (numbers masked, SQL errors reduced to
    their SQLSTATE); anything else may quote a value, so only its type and where it was raised.
    """
    if isinstance(exc, CallbackDeskError):
        return f"{type(exc).__name__}: {exc}"
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return f"{type(exc).__name__}{where}"


class Listener:
    def __init__(
        self,
        settings: Settings,
        sink: CallSink,
        gaps: GapWatch | None = None,
        *,
        spool: Spool | None = None,
    ) -> None:
        """``spool`` None: a private in-memory spool, not crash-safe (tests and benches only;
        ``callback-desk listen`` always passes the one in ``[listener] state_dir``)."""
        self._settings = settings
        self._sink = sink
        self._spool = spool
        self._own_spool = spool is None
        # Heartbeats and gap reconciliation (ami_listener.gaps); None in tests of the stream.
        self.gaps = gaps
        self._pbx = settings.pbx.name
        self._max_skew = settings.listener.max_clock_skew
        self.tracker = CallTracker(
            TrackerConfig(
                inbound_contexts=frozenset(settings.pbx.inbound_contexts),
                country=settings.pbx.country,
                settle_seconds=settings.listener.settle_seconds,
                max_call_seconds=settings.listener.max_call_seconds,
                max_open_calls=settings.listener.max_open_calls,
            )
        )
        # AMI frames as text (parsed by the consumer when it gets to them) with the moment they
        # arrived, and the reconcile's channel list after a reconnect, in stream order.
        self._events: deque[tuple[str | LiveChannels, float]] = deque()
        self._event_ready = asyncio.Event()
        self._paused = False
        # Decided, not yet on disk (the consumer fills it, the writer empties it).
        self._decided: deque[CallRecord] = deque()
        self._write_ready = asyncio.Event()
        self._decided_low = asyncio.Event()
        self._decided_low.set()
        # Spooled, not yet in PostgreSQL, oldest first; beyond MIRRORED only on disk.
        self._unsent: deque[Spooled] = deque()
        self._disk_only = True  # at start-up, whatever a previous run left is on disk
        self._last_loaded = 0
        self._committed_to = 0  # PostgreSQL has every spooled call up to this seq
        self._forgotten_to = 0  # ... and the spool has deleted them up to this one
        self._spool_lock = asyncio.Lock()
        self._spooled = asyncio.Event()
        self._spool_full = False
        self._spool_warned = False
        self._outage = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._failure: ListenerFailed | None = None
        self._disconnected_at: float | None = None
        self._logins = 0
        self._restored = 0
        self._no_reporting_warned = False
        self._listed_second = 0  # int(time.time()) of the missed calls listed at INFO ...
        self._listed = 0  # ... and how many were, that second (LISTED_PER_SECOND)
        self.client: AmiClient | None = None
        self.stats = {
            "events": 0,
            "malformed": 0,
            "decided": 0,
            "spooled": 0,
            "stored": 0,
            "duplicates": 0,
            "rejected": 0,
            "dropped": 0,
            "paused": 0,
            "clock_skewed": 0,
            "over_bound": 0,
        }

    # -- lifecycle -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Listen until :meth:`stop`; returns after pending decisions are spooled (and written,
        bounded in time). Raises :class:`ListenerFailed` when one of its tasks failed."""
        if self._spool is None:
            self._spool = await Spool.open(None, self._settings.listener.spool_max_mb << 20)
        await self._restore()
        ami = self._settings.ami
        self.client = AmiClient.for_settings(ami, on_state=self._on_ami_state)
        subscribe(self.client, self._enqueue, trace=self._settings.listener.trace)
        self._spawn(self._consume(), "consumer")
        self._spawn(self._spool_writes(), "spooler")
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
        if self._failure is not None:
            raise self._failure

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
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        assert exc is not None
        if self._failure is None:
            # The one line: cli prints it and exits 1; the traceback only with -v.
            self._failure = ListenerFailed(
                f"the listener's {task.get_name()} task failed ({describe(exc)}); "
                "exiting so that the service manager restarts it"
            )
            self._failure.__cause__ = exc
        self._stopping.set()

    async def _restore(self) -> None:
        """Calls decided but not committed, and calls in progress, from the previous run."""
        assert self._spool is not None
        waiting = await self._spool.count()
        if waiting:
            logger.warning(
                "%d decided calls from a previous run are waiting in the spool; writing them",
                waiting,
                extra={"action": "spool_replay"},
            )
        saved, saved_at = await self._spool.take_open()
        if saved and saved_at is not None:
            away = max(0.0, time.time() - saved_at)
            now = asyncio.get_running_loop().time()
            self._restored = self.tracker.restore(saved, now, away)
            # Treat the downtime as an AMI outage: a PBX that restarted meanwhile (low uptime
            # in FullyBooted) ended those calls; otherwise CoreShowChannels tells which did.
            self._disconnected_at = time.monotonic() - away
            logger.info(
                "Restored %d calls in progress at the last shutdown (%.0f s ago)",
                self._restored,
                away,
                extra={"action": "open_restored"},
            )

    async def _shutdown(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        consumer = [t for t in self._tasks if t.get_name() == "consumer"]
        for task in consumer:
            task.cancel()
        await asyncio.gather(*consumer, return_exceptions=True)
        # Calls already over are decided now; calls in progress are saved for the next start.
        self._drain_events()
        self._queue_writes(self.tracker.flush_ended())
        assert self._spool is not None
        in_progress = self.tracker.snapshot(asyncio.get_running_loop().time())
        try:
            await self._spool.save_open(in_progress, time.time())
            if in_progress:
                logger.info(
                    "%d calls in progress saved for the next start",
                    len(in_progress),
                    extra={"action": "open_saved"},
                )
        except SpoolError as exc:
            logger.error(
                "%d calls in progress at shutdown could not be saved: %s",
                len(in_progress),
                exc,
                extra={"action": "open_lost"},
            )
        self._write_ready.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SHUTDOWN_WRITE_SECONDS
        running = {t.get_name() for t in self._tasks if not t.done()}
        # On disk first (fast); then PostgreSQL, unless it is down: the spool keeps them.
        while loop.time() < deadline and {"spooler", "writer"} <= running:
            if not self._decided and (self._outage or not self._backlog()):
                break
            await asyncio.sleep(0.02)
            running = {t.get_name() for t in self._tasks if not t.done()}
        if self._decided:
            logger.error(
                "%d decided calls could not be spooled before shutdown",
                len(self._decided),
                extra={"action": "unwritten_on_shutdown"},
            )
        elif self._backlog():
            logger.warning(
                "Decided calls not yet in PostgreSQL stay in the spool for the next start",
                extra={"action": "spooled_on_shutdown"},
            )
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await self._forget_committed()
        except SpoolError as exc:
            # Harmless: those calls are replayed at the next start and written as duplicates.
            logger.warning("%s", exc, extra={"action": "spool_forget_failed"})
        if self._own_spool:
            await self._spool.close()
        logger.info("Listener stopped: %s", self.stats, extra={"action": "listener_stop"})

    def _backlog(self) -> bool:
        return bool(self._unsent) or self._disk_only

    # -- AMI side ------------------------------------------------------------------------------

    def _enqueue(self, frames: list[str]) -> None:
        # One receipt time for the frames of one read: they arrived together (and the events
        # of a burst share their datetime, events.parse_checked).
        self._events.extend(zip(frames, repeat(time.time())))
        if len(self._events) >= MAX_QUEUED and not self._paused:
            self._pause(True)
        self._event_ready.set()

    def _pause(self, pause: bool) -> None:
        """Stop (or resume) reading AMI: the kernel's socket buffers hold the rest."""
        if self.client is not None:
            self._paused = self.client.pause_reading(pause)
            if self._paused:
                self.stats["paused"] += 1

    def _on_ami_state(self, state: str) -> None:
        if self.gaps is not None and state in ("connected", "disconnected"):
            if state == "connected":
                self.gaps.logged_in()
            else:
                self.gaps.logged_out()
        if state == "disconnected":
            self._paused = False  # the next connection starts reading
            if self._disconnected_at is None:
                self._disconnected_at = time.monotonic()
        elif state == "connected":
            if self._logins or self._restored:
                # Events during the outage are lost for good (AMI has no replay): ask the PBX
                # which channels still exist, so calls that ended meanwhile are not kept open.
                self._spawn(self._reconcile(), "reconcile")
            self._logins += 1

    async def _reconcile(self) -> None:
        # Best effort by design: whatever goes wrong here, the stream goes on and the calls
        # concerned are closed by max_call_seconds at worst. Nothing in it may end the listener.
        try:
            live = await self._live_channels()
        except Exception as exc:  # see above; logged with its type
            logger.warning(
                "Reconcile after reconnecting failed (%s); open calls kept until they end or "
                "expire",
                describe(exc),
                extra={"action": "reconcile_failed"},
            )
            return
        if live is not None:
            # Through the event queue, so the snapshot is applied in stream order.
            self._events.append((LiveChannels(live), time.time()))
            self._event_ready.set()

    async def _live_channels(self) -> frozenset[str] | None:
        assert self.client is not None
        reply = await self.client.send_action(
            {"Action": "CoreShowChannels"},
            timeout=max(10.0, 2 * self._settings.ami.ping_interval),
        )
        messages = reply if isinstance(reply, list) else [reply]
        if messages and ev.header(messages[0], "response") == "Error":
            if not self._no_reporting_warned:
                self._no_reporting_warned = True
                logger.warning(
                    "Cannot list the PBX's channels after reconnecting (%s): calls that ended "
                    "while AMI was away are closed only after max_call_seconds. Grant the AMI "
                    "user write = reporting (see manager.conf.sample) to close them at once.",
                    ev.header(messages[0], "message")[:80],
                    extra={"action": "reconcile_refused"},
                )
            return None
        live = frozenset(
            ev.header(m, "uniqueid")
            for m in messages
            if ev.header(m, "event").lower() == "coreshowchannel"
        )
        complete = [
            m for m in messages if ev.header(m, "event").lower() == "coreshowchannelscomplete"
        ]
        listed = ev.header(complete[-1], "listitems") if complete else ""
        if not complete or (listed.isdigit() and int(listed) != len(live)):
            # Closing calls on a partial list would decide live calls as over.
            raise AmiError(f"CoreShowChannels list incomplete ({len(live)} of {listed or '?'})")
        return live

    # -- consumer ------------------------------------------------------------------------------

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        events = self._events
        while True:
            deadline = self.tracker.next_deadline()
            if not events:
                self._event_ready.clear()
                try:
                    async with asyncio.timeout_at(deadline):
                        await self._event_ready.wait()
                except TimeoutError:
                    pass
            else:
                # Work through a burst, but yield now and then: a loop that stops reading the
                # socket misses Ping replies and is cut off by Asterisk.
                now = loop.time()
                for _ in range(min(len(events), CONSUMER_BATCH)):
                    self._handle(events.popleft(), now)
                if self._paused and len(events) < MAX_QUEUED // 2:
                    self._pause(False)
                await asyncio.sleep(0)
            if deadline is not None and deadline <= loop.time():
                self._queue_writes(self.tracker.due(loop.time()))
            if not self._decided_low.is_set():
                # The writer is behind (a slow disk): stop taking events; the queue fills and
                # reading from AMI pauses.
                await self._decided_low.wait()

    def _drain_events(self) -> None:
        loop = asyncio.get_running_loop()
        while self._events:
            self._handle(self._events.popleft(), loop.time())

    def _handle(self, item: tuple[str | LiveChannels, float], now: float) -> None:
        message, received = item
        if not isinstance(message, str):
            closed = self.tracker.reconcile(message.uniqueids, now)
            logger.info(
                "Reconciled with the PBX after reconnecting: %d calls ended meanwhile",
                closed,
                extra={"action": "reconciled"},
            )
            return
        self.stats["events"] += 1
        try:
            event, skewed = ev.parse_checked(parse_frame(message), received, self._max_skew)
        except MalformedEvent as exc:
            self.stats["malformed"] += 1
            logger.warning(
                "Skipping malformed AMI event: %s", exc, extra={"action": "malformed_event"}
            )
            return
        if event is None:
            return
        if skewed:
            self.stats["clock_skewed"] += 1
            if self.stats["clock_skewed"] % 1000 == 1:
                # No header values: a skewed Timestamp says nothing about the caller anyway.
                logger.warning(
                    "AMI event Timestamp more than %.0f s from the listener's clock (or "
                    "unreadable): the receipt time stands in (%d events so far); check the "
                    "PBX's clock (NTP)",
                    self._max_skew,
                    self.stats["clock_skewed"],
                    extra={"action": "clock_skew"},
                )
        if isinstance(event, ev.FullyBooted):
            self._after_reconnect(event)
            return
        records = self.tracker.feed(event, now)
        if records:  # only when a new call found max_open_calls open: the oldest were closed
            self._over_bound(len(records))
            self._queue_writes(records)

    def _over_bound(self, closed: int) -> None:
        before = self.stats["over_bound"]
        self.stats["over_bound"] += closed
        if before % 1000 == 0:
            logger.warning(
                "%d calls open at once ([listener] max_open_calls): the oldest was closed as "
                "unknown_end (%d so far); a missed call stays listed until someone returns it",
                self.tracker.open_calls,
                self.stats["over_bound"],
                extra={"action": "open_calls_bound"},
            )

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
        if not records:
            return
        self.stats["decided"] += len(records)
        second = int(time.time())
        if second != self._listed_second:
            self._listed_second, self._listed = second, 0
        unlisted = 0
        for record in records:
            # Missed calls at INFO (someone must act on them), up to LISTED_PER_SECOND; the rest
            # at DEBUG: most calls on a real PBX, and most of this line's cost. Nothing is built
            # for a line not logged.
            level = logging.DEBUG
            if record.outcome == Outcome.MISSED:
                if self._listed < LISTED_PER_SECOND:
                    self._listed += 1
                    level = logging.INFO
                else:
                    unlisted += 1
            if logger.isEnabledFor(level):
                logger.log(
                    level,
                    "Call %s from %s: %s (%s)",
                    record.linkedid,
                    phone.mask(record.number),
                    record.outcome,
                    record.reason,
                    extra=_DECIDED,
                )
            if len(self._decided) >= MAX_UNSPOOLED:
                lost = self._decided.popleft()
                self.stats["dropped"] += 1
                logger.error(
                    "Spool full and memory bound reached: call %s from %s NOT recorded",
                    lost.linkedid,
                    phone.mask(lost.number),
                    extra={"action": "write_dropped"},
                )
            self._decided.append(record)
        if unlisted:
            logger.info(
                "%d more missed calls decided (beyond %d a second, each is logged at DEBUG)",
                unlisted,
                LISTED_PER_SECOND,
                extra=_UNLISTED,
            )
        self._write_ready.set()
        if len(self._decided) >= MAX_DECIDED and not self._spool_full:
            self._decided_low.clear()

    async def _spool_writes(self) -> None:
        """Decided calls to disk, as soon as they are decided: never behind a slow database."""
        while True:
            self._write_ready.clear()
            if not self._decided:
                await self._write_ready.wait()
                continue
            await self._spool_decided()
            if self._spool_full:
                # Retry later; meanwhile the calls wait in memory (bounded, see _queue_writes).
                try:
                    async with asyncio.timeout(1.0):
                        await self._stopping.wait()
                except TimeoutError:
                    pass

    async def _spool_decided(self) -> None:
        """Append decided calls (and forget committed ones) in one fsynced transaction."""
        assert self._spool is not None
        records = list(self._decided)
        async with self._spool_lock:
            forget = self._committed_to if self._committed_to > self._forgotten_to else 0
            try:
                first = await self._spool.append(self._pbx, records, forget_to=forget)
            except SpoolFull:
                if not self._spool_full:
                    self._spool_full = True
                    logger.error(
                        "Spool full ([listener] spool_max_mb = %s): %d decided calls held in "
                        "memory only; they are lost if the listener stops before PostgreSQL "
                        "is back",
                        self._settings.listener.spool_max_mb,
                        len(self._decided),
                        extra={"action": "spool_full"},
                    )
                self._decided_low.set()  # do not stall the stream: memory holds them (bounded)
                return
            self._forgotten_to = max(self._forgotten_to, forget)
            for _ in records:
                self._decided.popleft()
            self.stats["spooled"] += len(records)
            if self._spool_full:
                self._spool_full = False
                logger.warning("Spool accepting calls again", extra={"action": "spool_ok"})
            if not self._disk_only and len(self._unsent) + len(records) <= MIRRORED:
                self._unsent.extend(Spooled(first + i, self._pbx, r) for i, r in enumerate(records))
                self._last_loaded = first + len(records) - 1
            else:
                self._disk_only = True  # read back from disk when their turn comes
        self._check_fill()
        if len(self._decided) < MAX_DECIDED:
            self._decided_low.set()
        self._spooled.set()

    async def _write(self) -> None:
        """The oldest spooled calls to PostgreSQL, in batches, then forgotten by the spool."""
        delay = 0.5
        while True:
            self._spooled.clear()
            batch = await self._next_batch()
            if not batch:
                # Committed calls are forgotten with the next append (one transaction) or at
                # shutdown, not here: a forget of its own would hold the spool while the next
                # decision waits to be spooled. Replayed after a crash, they change nothing.
                await self._spooled.wait()
                continue
            try:
                inserted = await self._sink.record_calls(batch[0].pbx, [s.record for s in batch])
            except StoreUnavailable as exc:
                if not self._outage:
                    logger.error(
                        "Database unavailable; decided calls wait in the spool: %s",
                        exc,
                        extra={"action": "db_down"},
                    )
                    self._outage = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            except SchemaError:
                raise  # the calls stay spooled; exiting says "run migrate" loudly
            except StoreError as exc:
                logger.warning(
                    "PostgreSQL refused a batch of %d calls (%s); writing them one by one",
                    len(batch),
                    exc,
                    extra={"action": "write_refused"},
                )
                await self._isolate(batch)
                continue
            if self._outage:
                logger.info("Database back; writing spooled calls", extra={"action": "db_up"})
                self._outage, delay = False, 0.5
            self._committed(batch, inserted)

    def _committed(self, batch: list[Spooled], inserted: int) -> None:
        for _ in batch:
            self._unsent.popleft()
        self._committed_to = batch[-1].seq
        self.stats["stored"] += inserted
        self.stats["duplicates"] += len(batch) - inserted

    async def _forget_committed(self) -> None:
        if self._committed_to > self._forgotten_to:
            assert self._spool is not None
            async with self._spool_lock:
                done = self._committed_to
                await self._spool.forget(done)
                self._forgotten_to = max(self._forgotten_to, done)

    def _check_fill(self) -> None:
        assert self._spool is not None
        fill = self._spool.fill
        if fill >= 0.8 and not self._spool_warned:
            self._spool_warned = True
            logger.warning(
                "Spool %.0f%% full ([listener] spool_max_mb = %s): PostgreSQL has been "
                "unreachable for long; calls will be refused when it is full",
                fill * 100,
                self._settings.listener.spool_max_mb,
                extra={"action": "spool_filling"},
            )
        elif fill < 0.5:
            self._spool_warned = False

    async def _next_batch(self) -> list[Spooled]:
        """The oldest spooled calls: one PBX, no linkedid twice (one statement cannot hold
        both versions of a call)."""
        if not self._unsent and self._disk_only:
            assert self._spool is not None
            async with self._spool_lock:
                loaded = await self._spool.oldest(self._last_loaded, WRITE_BATCH)
                self._unsent.extend(loaded)
                if loaded:
                    self._last_loaded = loaded[-1].seq
                if len(loaded) < WRITE_BATCH:
                    self._disk_only = False
        batch: list[Spooled] = []
        seen: set[str] = set()
        for item in self._unsent:
            if len(batch) >= WRITE_BATCH or item.record.linkedid in seen:
                break
            if batch and item.pbx != batch[0].pbx:
                break
            seen.add(item.record.linkedid)
            batch.append(item)
        return batch

    async def _isolate(self, batch: list[Spooled]) -> None:
        """Write a refused batch call by call; a call refused on its own is set aside, loudly."""
        assert self._spool is not None
        for item in batch:
            try:
                inserted = await self._sink.record_calls(item.pbx, [item.record])
            except StoreUnavailable:
                return  # the outer loop waits for the database
            except SchemaError:
                raise
            except StoreError as exc:
                await self._spool.reject(item, str(exc))
                self.stats["rejected"] += 1
                logger.error(
                    "PostgreSQL refused call %s from %s (%s); kept in the spool's rejected table",
                    item.record.linkedid,
                    phone.mask(item.record.number),
                    exc,
                    extra={"action": "call_rejected"},
                )
                inserted = 0
            self._committed([item], inserted)
