"""Know when we were not listening, and fill the hole from the PBX's own records.

AMI has no replay: a call that starts and ends while the listener is stopped (an upgrade, a
crash) or while the AMI link is cut is invisible to it. So:

- while logged in to AMI, each listener writes a heartbeat (``listener_heartbeats``) every
  ``heartbeat_seconds``;
- when it logs in (start-up, or after a cut), the time since its own last heartbeat is a *gap*
  (``listener_gaps``: start, end, ``startup``/``ami_cut``);
- the gap is read back from the PBX's CEL or CDR table (``ami_listener.sources``), decided by
  ``ami_listener.cdr`` and written through the same idempotent insert as live calls, marked with
  the gap's id. The insert's evidence rule (``sql/0005_gaps.sql``) means reading a period a
  second listener covered, or reading it twice, changes nothing that was better known.

Calls still running when a gap is read (CEL shows no end yet; CDR rows are written at the end)
are read again ``recheck_seconds`` later, up to ``rechecks`` times. A gap with ``[reconcile]``
off is still recorded (``not_configured``) so the report shows it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from ami_listener import cdr
from ami_listener.sources import Records, SqlRecords, check_dsn, check_table
from callback_desk.core import phone
from callback_desk.core.config import Secret, Settings
from callback_desk.core.exceptions import (
    ConfigError,
    RecordsUnavailable,
    StoreError,
)
from callback_desk.core.model import CallRecord

logger = logging.getLogger(__name__)

GapSource = Literal["startup", "ami_cut"]


@dataclass(frozen=True)
class ReconcileSettings:
    enabled: bool = False
    engine: Literal["postgresql", "mysql"] = "mysql"
    dsn: Secret | None = None
    records: Literal["cel", "cdr"] = "cel"
    cel_table: str = "cel"
    cdr_table: str = "cdr"
    cel_extra_column: str = ""  # "": extra (postgresql) or eventextra (FreePBX's MySQL)
    cdr_did_column: str | None = None  # None: did on MySQL (FreePBX), none on postgresql
    # Naive times in the PBX's tables are read in this zone (Asterisk writes local time unless
    # cel_pgsql/cdr_pgsql have usegmtime = yes).
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    # This listener's name in listener_heartbeats; two listeners of one PBX need two names.
    instance: str = ""
    heartbeat_seconds: float = 10.0
    # Read a little before and after the gap: clocks differ, and a heartbeat is up to
    # heartbeat_seconds old when the listener stops.
    margin_seconds: float = 30.0
    recheck_seconds: float = 300.0
    rechecks: int = 12

    @classmethod
    def from_settings(cls, settings: Settings) -> ReconcileSettings:
        s = settings.section("reconcile")
        enabled = s.flag("enabled", False)
        engine = s.text("source", "mysql")
        if engine not in ("postgresql", "mysql"):
            raise ConfigError(f"[reconcile] source = {engine!r} must be 'postgresql' or 'mysql'")
        records = s.text("records", "cel")
        if records not in ("cel", "cdr"):
            raise ConfigError(f"[reconcile] records = {records!r} must be 'cel' or 'cdr'")
        dsn = s.dsn("dsn", None)
        extra = s.text("cel_extra_column", "")
        did = s.text("cdr_did_column", "-")
        parsed = cls(
            enabled=enabled,
            engine="postgresql" if engine == "postgresql" else "mysql",
            dsn=dsn if dsn else None,
            records="cdr" if records == "cdr" else "cel",
            cel_table=check_table(s.text("cel_table", "cel"), "cel_table"),
            cdr_table=check_table(s.text("cdr_table", "cdr"), "cdr_table"),
            cel_extra_column=check_table(extra, "cel_extra_column") if extra else "",
            # "-" (unset): the engine's default; "": no such column.
            cdr_did_column=None
            if did == "-"
            else check_table(did, "cdr_did_column")
            if did
            else "",
            timezone=s.timezone("timezone", settings.pbx.timezone.key),
            instance=s.text("instance", "") or socket.gethostname(),
            heartbeat_seconds=s.number("heartbeat_seconds", 10.0, minimum=1.0),
            margin_seconds=s.number("margin_seconds", 30.0),
            recheck_seconds=s.number("recheck_seconds", 300.0, minimum=1.0),
            rechecks=s.integer("rechecks", 12, minimum=0),
        )
        s.finish()
        if enabled and parsed.dsn is None:
            raise ConfigError(
                "[reconcile] dsn is required when enabled (set it in the config file or "
                "CALLBACK_DESK_RECONCILE_DSN)"
            )
        if enabled and parsed.dsn is not None:
            # A malformed DSN is a mistake in the settings (exit 2 at start), not something
            # for the running listener to discover at its first gap.
            check_dsn(parsed.engine, parsed.dsn)
        return parsed

    def source(self, max_call_seconds: float) -> Records | None:
        if not self.enabled or self.dsn is None:
            return None
        return SqlRecords(
            self.engine,
            self.dsn,
            self.records,
            self.cel_table if self.records == "cel" else self.cdr_table,
            self.timezone,
            lead=timedelta(seconds=max_call_seconds),
            extra_column=self.cel_extra_column,
            did_column=self.cdr_did_column,
        )


@dataclass(frozen=True, slots=True)
class Gap:
    id: int
    started_at: datetime
    ended_at: datetime
    source: GapSource


class GapStore(Protocol):
    async def record_call(self, pbx: str, call: CallRecord, gap_id: int | None = None) -> bool: ...
    async def beat_heart(self, pbx: str, listener: str, at: datetime) -> None: ...
    async def last_heartbeat_of(self, pbx: str, listener: str) -> datetime | None: ...
    async def record_gap(
        self, pbx: str, listener: str, started_at: datetime, ended_at: datetime, source: str
    ) -> int: ...
    async def fill_gap(
        self, gap_id: int, filled_by: str, rows_added: int, detail: str, at: datetime
    ) -> None: ...


class GapFiller:
    """Read one gap from the PBX's records and write the calls it held."""

    def __init__(
        self,
        store: GapStore,
        pbx: str,
        records: Records | None,
        rules: cdr.Rules,
        margin: timedelta,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._pbx = pbx
        self._records = records
        self._rules = rules
        self._margin = margin
        self._clock = clock

    async def fill(self, gap: Gap) -> int:
        """One pass; returns how many calls are still running (read the gap again later).

        Raises StoreUnavailable (try again) and RecordsUnavailable (recorded as 'failed').
        """
        if self._records is None:
            await self._store.fill_gap(
                gap.id, "not_configured", 0, "[reconcile] is off", self._clock()
            )
            return 0
        start, end = gap.started_at - self._margin, gap.ended_at + self._margin
        try:
            rows = await self._records.read(start, end)
        except RecordsUnavailable as exc:
            await self._store.fill_gap(gap.id, "failed", 0, str(exc)[:500], self._clock())
            raise
        decided: list[CallRecord] = []
        running = 0
        calls = cdr.by_linkedid(list(rows))
        for linkedid, call_rows in calls.items():
            record: CallRecord | None
            if self._records.kind == "cel":
                cel_rows = [r for r in call_rows if isinstance(r, cdr.CelRow)]
                if not cdr.cel_over(cel_rows):
                    running += 1
                    continue
                record = cdr.decide_cel(cel_rows, self._rules)
            else:
                cdr_rows = [r for r in call_rows if isinstance(r, cdr.CdrRow)]
                if max(r.end for r in cdr_rows) < start:
                    continue  # over before the gap began (read only because of the lead)
                record = cdr.decide_cdr(cdr_rows, self._rules)
            if record is not None:
                decided.append(record)
            elif linkedid:
                logger.debug("Reconciled call %s is not one we store", linkedid)
        added = 0
        for record in decided:
            if await self._store.record_call(self._pbx, record, gap.id):
                added += 1
                logger.info(
                    "Call %s from %s (from gap %d): %s (%s)",
                    record.linkedid,
                    phone.mask(record.number),
                    gap.id,
                    record.outcome,
                    record.reason,
                    extra={"action": "call_reconciled"},
                )
        detail = f"{len(calls)} calls read, {len(decided)} stored or known, {running} running"
        await self._store.fill_gap(gap.id, self._records.kind, added, detail, self._clock())
        logger.info(
            "Gap %d (%s to %s) read from %s: %d calls added, %d still running",
            gap.id,
            gap.started_at.isoformat(timespec="seconds"),
            gap.ended_at.isoformat(timespec="seconds"),
            self._records.kind,
            added,
            running,
            extra={"action": "gap_filled"},
        )
        return running


class GapWatch:
    """Heartbeats while logged in; a gap recorded and filled at every login after the first beat.

    ``logged_in``/``logged_out`` are called synchronously from the AMI client's state callback;
    :meth:`run` is one long-lived task of the listener. Every failure here is recoverable (the
    database or the PBX's records are away): it is logged and retried, never raised.
    """

    def __init__(
        self,
        store: GapStore,
        pbx: str,
        settings: ReconcileSettings,
        filler: GapFiller,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._pbx = pbx
        self._settings = settings
        self._filler = filler
        self._clock = clock
        self._logins: asyncio.Queue[datetime] = asyncio.Queue()
        self._first_login = True
        self._up = False
        # (due on the loop clock, gap, passes left)
        self._passes: list[tuple[float, Gap, int]] = []
        self.gaps: list[Gap] = []  # recorded by this process (tests, logs)

    def logged_in(self) -> None:
        self._up = True
        self._logins.put_nowait(self._clock())

    def logged_out(self) -> None:
        self._up = False

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        next_beat = loop.time()
        while True:
            wake = min([next_beat, *(due for due, _, _ in self._passes)])
            try:
                async with asyncio.timeout_at(wake):
                    login_at = await self._logins.get()
            except TimeoutError:
                pass
            else:
                await self._on_login(login_at)
                next_beat = loop.time()  # beat right away: the gap ends here
            now = loop.time()
            if now >= next_beat:
                if self._up:
                    await self._beat()
                next_beat = now + self._settings.heartbeat_seconds
            for item in [p for p in self._passes if p[0] <= now]:
                self._passes.remove(item)
                await self._pass(*item[1:])

    async def _beat(self) -> None:
        try:
            await self._store.beat_heart(self._pbx, self._settings.instance, self._clock())
        except StoreError as exc:
            logger.warning("Heartbeat not written: %s", exc, extra={"action": "heartbeat_failed"})

    async def _on_login(self, at: datetime) -> None:
        source: GapSource = "startup" if self._first_login else "ami_cut"
        self._first_login = False
        # The last beat and the new gap must reach the database; hold on until they do.
        delay = 1.0
        while True:
            try:
                last = await self._store.last_heartbeat_of(self._pbx, self._settings.instance)
                if last is None or last >= at:
                    logger.info(
                        "No earlier heartbeat of listener %r: nothing to reconcile",
                        self._settings.instance,
                        extra={"action": "gap_none"},
                    )
                    return
                gap_id = await self._store.record_gap(
                    self._pbx, self._settings.instance, last, at, source
                )
                break
            except StoreError as exc:
                logger.warning(
                    "Cannot record the listener gap yet (retrying): %s",
                    exc,
                    extra={"action": "gap_record_failed"},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        gap = Gap(gap_id, last, at, source)
        self.gaps.append(gap)
        logger.warning(
            "Not listening from %s to %s (%s, %.0f s): gap %d",
            last.isoformat(timespec="seconds"),
            at.isoformat(timespec="seconds"),
            source,
            (at - last).total_seconds(),
            gap_id,
            extra={"action": "gap"},
        )
        await self._pass(gap, self._settings.rechecks)

    async def _pass(self, gap: Gap, passes_left: int) -> None:
        try:
            running = await self._filler.fill(gap)
        except (RecordsUnavailable, StoreError) as exc:
            logger.error(
                "Gap %d not filled yet: %s", gap.id, exc, extra={"action": "gap_fill_failed"}
            )
            running = 1  # try again like a call still running
        if running and passes_left > 0:
            due = asyncio.get_running_loop().time() + self._settings.recheck_seconds
            self._passes.append((due, gap, passes_left - 1))


def watch(settings: Settings, store: GapStore) -> GapWatch:
    """The gap watch the listener runs, from ``[reconcile]`` (also when it is off)."""
    reconcile = ReconcileSettings.from_settings(settings)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731
    rules = cdr.Rules(frozenset(settings.pbx.inbound_contexts), settings.pbx.country)
    filler = GapFiller(
        store,
        settings.pbx.name,
        reconcile.source(settings.listener.max_call_seconds),
        rules,
        timedelta(seconds=reconcile.margin_seconds),
        clock,
    )
    return GapWatch(store, settings.pbx.name, reconcile, filler, clock)
