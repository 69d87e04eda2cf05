"""The listener's crash-safe spool: decided calls on local disk until PostgreSQL has them.

SQLite in WAL mode with ``synchronous = FULL``, rather than a hand-written append-only file:
each append is one transaction whose commit fsyncs the WAL, so a decided call is on disk before
it counts as recorded, a torn write at a crash is rolled back by SQLite's checksums instead of
by our own parser, removing what PostgreSQL committed is a ``DELETE`` instead of a compaction
scheme, order is the ``seq`` primary key, and the calls still in progress at a shutdown sit in
the same file under the same guarantees. ``max_page_count`` bounds the file: SQLite itself
refuses a write past the limit (``SQLITE_FULL``), as it does on a full disk.

Every SQLite call runs on one worker thread: a commit's fsync must not stall the event loop
(Asterisk cuts off a listener that stops reading).
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from callback_desk.core.exceptions import SpoolError, SpoolFull
from callback_desk.core.model import CallRecord, Direction, Outcome, Reason

T = TypeVar("T")
logger = logging.getLogger(__name__)

FILENAME = "listener-spool.sqlite3"
_PAGE = 4096
_SCHEMA = """
CREATE TABLE IF NOT EXISTS decided (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    pbx      TEXT NOT NULL,
    record   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    seq      INTEGER PRIMARY KEY,
    pbx      TEXT NOT NULL,
    record   TEXT NOT NULL,
    why      TEXT NOT NULL,
    at       TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE IF NOT EXISTS open_calls (
    saved_at REAL NOT NULL,
    calls    TEXT NOT NULL
);
"""


def _side_files(path: Path) -> tuple[Path, ...]:
    """SQLite's write-ahead log and shared-memory index beside the database file."""
    return (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))


def _owner_only(path: Path, *, create: bool) -> None:
    """Mode 0600 for a spool file whatever the umask (it holds callers' numbers and names), and
    for one an older version left wider; the state directory may be 0755 (made by hand, or by
    systemd with another mode), so its mode cannot be what protects the files."""
    flags = os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        if create:
            raise
        return
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class Spooled:
    """A decided call on disk, waiting for PostgreSQL."""

    seq: int
    pbx: str
    record: CallRecord


# One encoder for every call: json.dumps with an argument builds a new JSONEncoder per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False)


def encode(record: CallRecord) -> str:
    return _ENCODER.encode(
        [
            record.linkedid,
            record.direction,
            record.outcome,
            record.reason,
            record.number,
            record.name,
            record.number_key,
            record.callable,
            record.did,
            list(record.rang),
            record.started_at.isoformat(),
            record.ended_at.isoformat(),
            record.ring_seconds,
            record.reached_voicemail,
        ]
    )


def decode(text: str) -> CallRecord:
    (
        linkedid,
        direction,
        outcome,
        reason,
        number,
        name,
        number_key,
        callable_,
        did,
        rang,
        started_at,
        ended_at,
        ring_seconds,
        reached_voicemail,
    ) = json.loads(text)
    return CallRecord(
        linkedid=linkedid,
        direction=Direction(direction),
        outcome=Outcome(outcome),
        reason=Reason(reason),
        number=number,
        name=name,
        number_key=number_key,
        callable=callable_,
        did=did,
        rang=tuple(rang),
        started_at=datetime.fromisoformat(started_at),
        ended_at=datetime.fromisoformat(ended_at),
        ring_seconds=float(ring_seconds),
        reached_voicemail=reached_voicemail,
    )


class Spool:
    """Decided calls in order (append, read from the oldest, forget once committed)."""

    def __init__(self, path: Path | None, max_bytes: int) -> None:
        # path None: a private in-memory database, same code but not durable (tests, benches).
        self.path = path
        self.max_bytes = max_bytes
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spool")
        self._db: sqlite3.Connection | None = None
        self._lock_fd: int | None = None
        self.pages = 0
        self.max_pages = max(max_bytes // _PAGE, 16)

    @classmethod
    async def open(cls, directory: Path | None, max_bytes: int) -> Spool:
        """Open (or create) the spool in ``directory``; raises :class:`SpoolError` if it can't."""
        spool = cls(directory / FILENAME if directory is not None else None, max_bytes)
        await spool._run(spool._open)
        return spool

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _open(self) -> None:
        where = str(self.path) if self.path is not None else ":memory:"
        try:
            if self.path is not None:
                # systemd's StateDirectory= creates it; elsewhere we do, private to our user.
                self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                self._lock(self.path.with_suffix(".lock"))
                # SQLite creates its -wal and -shm files with the database file's mode.
                for path in (self.path, *_side_files(self.path)):
                    _owner_only(path, create=path == self.path)
            db = sqlite3.connect(where, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            # FULL: the WAL is fsynced at every commit (NORMAL may lose the last commits at a
            # power cut, i.e. calls we already counted as recorded).
            db.execute("PRAGMA synchronous = FULL")
            db.execute(f"PRAGMA max_page_count = {self.max_pages}")
            db.executescript(_SCHEMA)
            self.pages = int(db.execute("PRAGMA page_count").fetchone()[0])
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot open the spool {where}: {exc}") from exc
        except OSError as exc:
            raise SpoolError(
                f"cannot open the spool {where}: {exc.strerror} (set [listener] state_dir; "
                "systemd: StateDirectory=callback-desk)"
            ) from exc
        self._db = db

    def _lock(self, path: Path) -> None:
        """One listener per spool: a second one would replay and forget the first one's calls
        (two listeners on one host each need their own state_dir). Released at exit, even by
        SIGKILL, since the kernel drops the lock with the descriptor."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SpoolError(
                f"another listener is using the spool in {path.parent}; give each listener "
                "its own [listener] state_dir"
            ) from None
        self._lock_fd = fd

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise SpoolError("the spool is closed")
        return self._db

    async def durability(self) -> tuple[str, int]:
        """(journal_mode, synchronous) as SQLite reports them on the spool's own connection:
        ``("wal", 2)``, 2 being FULL (per connection: nothing else can read it back)."""
        return await self._run(self._durability)

    def _durability(self) -> tuple[str, int]:
        db = self._conn()
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
        synchronous = db.execute("PRAGMA synchronous").fetchone()[0]
        return str(mode), int(synchronous)

    @property
    def fill(self) -> float:
        """How full the file is, 0..1 (as of the last write)."""
        return self.pages / self.max_pages

    # -- decided calls -------------------------------------------------------------------------

    async def append(self, pbx: str, records: Sequence[CallRecord], forget_to: int = 0) -> int:
        """Append ``records`` durably (and forget seq <= ``forget_to``); returns the first seq.

        Raises :class:`SpoolFull` when the file reached its bound (nothing was appended).
        """
        rows = [(pbx, encode(r)) for r in records]
        return await self._run(self._append, rows, forget_to)

    def _append(self, rows: list[tuple[str, str]], forget_to: int) -> int:
        db = self._conn()
        try:
            db.execute("BEGIN IMMEDIATE")
            if forget_to:
                db.execute("DELETE FROM decided WHERE seq <= ?", (forget_to,))
            cursor = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'decided'")
            found = cursor.fetchone()
            first = (int(found[0]) if found else 0) + 1
            db.executemany("INSERT INTO decided (pbx, record) VALUES (?, ?)", rows)
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if exc.sqlite_errorcode == sqlite3.SQLITE_FULL:
                raise SpoolFull(f"the spool {self.path or ':memory:'} is full") from exc
            raise SpoolError(f"cannot write the spool: {exc}") from exc
        self.pages = int(db.execute("PRAGMA page_count").fetchone()[0])
        return first

    async def forget(self, up_to: int) -> None:
        """PostgreSQL has every call up to ``up_to``."""
        await self._run(self._forget, up_to)

    def _forget(self, up_to: int) -> None:
        # Not fsync-critical: a forget lost in a crash replays calls PostgreSQL already has,
        # and the insert is idempotent.
        try:
            self._conn().execute("DELETE FROM decided WHERE seq <= ?", (up_to,))
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot write the spool: {exc}") from exc

    async def oldest(self, after: int, limit: int) -> list[Spooled]:
        """Up to ``limit`` spooled calls with seq > ``after``, oldest first."""
        return await self._run(self._oldest, after, limit)

    def _oldest(self, after: int, limit: int) -> list[Spooled]:
        db = self._conn()
        try:
            rows = db.execute(
                "SELECT seq, pbx, record FROM decided WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            ).fetchall()
            items = []
            for seq, pbx, record in rows:
                try:
                    items.append(Spooled(seq, pbx, decode(record)))
                except (ValueError, TypeError) as exc:
                    # Written by another version (a reason this one does not know...): set
                    # aside for the admin rather than block every call behind it.
                    logger.error(
                        "Spooled call %d is unreadable (%s); moved to the rejected table",
                        seq,
                        type(exc).__name__,
                        extra={"action": "spool_unreadable"},
                    )
                    db.execute(
                        "INSERT OR REPLACE INTO rejected (seq, pbx, record, why) "
                        "VALUES (?, ?, ?, 'unreadable')",
                        (seq, pbx, record),
                    )
                    db.execute("DELETE FROM decided WHERE seq = ?", (seq,))
            return items
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot read the spool: {exc}") from exc

    async def count(self) -> int:
        return await self._run(self._count)

    def _count(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM decided").fetchone()[0])

    async def reject(self, item: Spooled, why: str) -> None:
        """PostgreSQL refuses this call for good: keep it aside for the admin, out of the queue."""
        await self._run(self._reject, item, why)

    def _reject(self, item: Spooled, why: str) -> None:
        db = self._conn()
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "INSERT OR REPLACE INTO rejected (seq, pbx, record, why) VALUES (?, ?, ?, ?)",
                (item.seq, item.pbx, encode(item.record), why),
            )
            db.execute("DELETE FROM decided WHERE seq = ?", (item.seq,))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise SpoolError(f"cannot write the spool: {exc}") from exc

    # -- calls in progress across a restart ----------------------------------------------------

    async def save_open(self, calls: list[dict[str, Any]], saved_at: float) -> None:
        await self._run(self._save_open, json.dumps(calls, ensure_ascii=False), saved_at)

    def _save_open(self, calls: str, saved_at: float) -> None:
        db = self._conn()
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM open_calls")
            db.execute("INSERT INTO open_calls (saved_at, calls) VALUES (?, ?)", (saved_at, calls))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise SpoolError(f"cannot save calls in progress: {exc}") from exc

    async def take_open(self) -> tuple[list[dict[str, Any]], float | None]:
        """The calls saved at the last shutdown (and forget them: restored once only)."""
        return await self._run(self._take_open)

    def _take_open(self) -> tuple[list[dict[str, Any]], float | None]:
        db = self._conn()
        try:
            row = db.execute("SELECT saved_at, calls FROM open_calls").fetchone()
            db.execute("DELETE FROM open_calls")
        except sqlite3.Error as exc:
            raise SpoolError(f"cannot read calls in progress: {exc}") from exc
        if row is None:
            return [], None
        try:
            calls = json.loads(row[1])
        except ValueError:
            return [], None
        return (calls if isinstance(calls, list) else []), float(row[0])

    async def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            await self._run(db.close)
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None
        self._executor.shutdown(wait=True)
