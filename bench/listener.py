"""The listener benchmarks: rows committed, hang-up to row, memory.

Everything is real except the PBX: ``callback-desk listen`` runs as its own process, with its
own config file, writing to a scratch PostgreSQL database; the stream comes from another
process (:mod:`bench.feed`) speaking AMI over TCP, built from calls recorded on Asterisk 22
(:mod:`bench.stream`). The clock stops when the harness, on its own connection, sees the rows.

- **throughput**: the same burst to panoramisk's bare dispatch (:mod:`bench.bare`, a process
  whose callback only counts) and to the listener, alternately, in rounds; the listener's time
  runs until its last row is committed, with ``settle_seconds = 0`` so no wait is counted. Two
  stream shapes, interleaved: recorded calls, and a dense stream where every call is a missed
  call (6 frames + 4 VarSet, a distinct number each).
- **latency**: calls at a steady rate, overlapping and timed as recorded; for each call, from
  the moment its last Hangup left the generator to the moment its row is visible (polled every
  2 ms), minus ``settle_seconds`` (the wait for late voicemail events, 2 s by default).
- **memory**: the listener's resident memory after one big burst of recorded calls, and after
  each batch of a long run of compact calls of which 1 % never end, at the default bounds.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench import scratch, stream
from bench.feed import FeedProcess
from bench.table import Figure, ms, percentile, spread
from callback_desk.core.config import ListenerSettings

# Stop a memory run before it takes the machine down with it (an unbounded queue can).
RSS_ABORT_MIB = 2048.0


@dataclass(frozen=True, slots=True)
class ListenerSizes:
    throughput_calls: int = 2400  # recorded-shape calls per round
    dense_calls: int = 20_000  # dense-stream calls per round
    rounds: int = 5
    # (calls per second, calls): each rate over more than 1,000 rows (11 calls in 12 leave one),
    # so that a p99 is not one or two rows.
    latency: tuple[tuple[float, int], ...] = ((10.0, 1100), (200.0, 4400))
    time_scale: float = 1.0  # recorded call durations times this
    settle: float = 2.0
    burst_calls: int = 20_000
    flat_calls: int = 2_000_000
    flat_batch: int = 40_000
    flat_open_cap: int | None = None  # [listener] max_open_calls; None: the default


def log(text: str) -> None:
    sys.stderr.write(f"[bench] {text}\n")
    sys.stderr.flush()


class Rows:
    """Counts committed rows from the harness's own connection (another connection than the
    listener's: visible means committed).

    Polling reads only the rows that appeared since the last poll (ids above the last one
    seen), so that watching a big burst does not cost PostgreSQL, on the same cores as the
    listener, a scan of every row already counted, 100 times a second."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.base = 0
        self._last = 0
        self._seen = 0

    @classmethod
    async def open(cls, dsn: str) -> Rows:
        rows = cls(await asyncpg.connect(dsn))
        await rows.mark()
        return rows

    async def mark(self) -> None:
        self.base = int(await self.conn.fetchval("SELECT coalesce(max(id), 0) FROM calls"))
        self._last, self._seen = self.base, 0

    async def count(self) -> int:
        n: int = await self.conn.fetchval("SELECT count(*) FROM calls WHERE id > $1", self.base)
        return n

    async def new(self) -> int:
        """Rows seen since :meth:`mark`, reading only those above the last id seen. A row
        committed late with a lower id (not the listener's one writer, but possible) is
        caught by the full count that confirms the total."""
        n, last = await self.conn.fetchrow(
            "SELECT count(*), coalesce(max(id), $1) FROM calls WHERE id > $1", self._last
        )
        self._seen += n
        self._last = last
        return self._seen

    async def wait(self, n: int, timeout: float, proc: asyncio.subprocess.Process) -> float:
        """Poll until ``n`` new rows are visible; the wall-clock moment they were."""
        async with asyncio.timeout(timeout):
            while True:
                if await self.new() >= n:
                    at = time.time()
                    if await self.count() >= n:
                        return at
                    self._seen = await self.count()  # a late lower id: trust the full count
                if proc.returncode is not None:
                    raise RuntimeError(f"the listener exited ({proc.returncode})")
                await asyncio.sleep(0.01)

    async def close(self) -> None:
        await self.conn.close()


class Rig:
    """A generator process, a scratch database and, on demand, listener processes."""

    def __init__(self, server: str, tmp: Path, profile: Path | None = None) -> None:
        self.server = server
        self.tmp = tmp
        self.profile = profile  # a directory: the throughput listener runs under cProfile
        self.feed: FeedProcess | None = None
        self.dsn = ""
        self._n = 0

    async def start_listener(
        self, settle: float, profile: Path | None = None, **listener: object
    ) -> tuple[asyncio.subprocess.Process, Path]:
        assert self.feed is not None
        self._n += 1
        # Each listener its own spool: a spool left by another run would be replayed here.
        state = self.tmp / f"state{self._n}"
        state.mkdir()
        config = scratch.write_config(
            self.tmp / f"listener{self._n}.toml",
            {
                "database": {"dsn": self.dsn},
                "ami": {
                    "host": "127.0.0.1",
                    "port": self.feed.ports["listener"],
                    "secret": "s3cret",
                },
                "pbx": {"name": "bench", "inbound_contexts": ["from-pstn"]},
                "listener": {"settle_seconds": settle, "state_dir": str(state), **listener},
            },
        )
        logfile = self.tmp / f"listener{self._n}.log"
        before = (await self.feed.call({"cmd": "logins", "target": "listener"}))["logins"]
        proc = await scratch.spawn(scratch.listener_argv(config, profile), log=logfile)
        try:
            await self.feed.wait_logins("listener", before + 1)
        except TimeoutError:
            await scratch.stop(proc)
            raise RuntimeError(f"the listener never logged in:\n{scratch.tail(logfile)}") from None
        return proc, logfile


async def _stop_listener(proc: asyncio.subprocess.Process, logfile: Path) -> None:
    rc = await scratch.stop(proc)
    if rc != 0:
        raise RuntimeError(f"the listener exited {rc}:\n{scratch.tail(logfile)}")


@dataclass(frozen=True, slots=True)
class Shape:
    """One stream shape of the throughput section, with the ratio it must reach."""

    name: str  # the generator's burst shape (bench.feed)
    what: str
    goal: float
    first: int  # call numbers of round r start at first + r * calls (never reused in a run)

    def frames(self, calls: int, first: int) -> int:
        return stream.frames(self.name, calls, first)

    def rows(self, calls: int, first: int) -> int:
        return stream.shape_rows(self.name, calls, first)


RECORDED = Shape("recorded", "recorded stream (Asterisk 22 traces)", 2.0, 1_000_000)
DENSE = Shape(
    "dense", "dense stream (every call a missed call: 6 frames + 4 VarSet)", 1.0, 20_000_000
)


async def _bare_round(rig: Rig, shape: Shape, calls: int, first: int, frames: int) -> float:
    assert rig.feed is not None
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.bare",
        str(rig.feed.ports["bare"]),
        str(frames),
        stdout=asyncio.subprocess.PIPE,
        cwd=scratch.REPO,
    )
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(120):
            assert (await proc.stdout.readline()).strip() == b"ready"
            sent = await rig.feed.call(
                {
                    "cmd": "burst",
                    "target": "bare",
                    "shape": shape.name,
                    "calls": calls,
                    "first": first,
                    "prerender": True,
                }
            )
            done = json.loads(await proc.stdout.readline())
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return frames / float(done["t1"] - sent["t0"])


async def _listener_round(
    rig: Rig,
    rows: Rows,
    proc: asyncio.subprocess.Process,
    shape: Shape,
    calls: int,
    first: int,
    frames: int,
) -> tuple[float, float]:
    assert rig.feed is not None
    # As autovacuum would between two bursts (the server under test may run without it): the
    # awaiting state's trigger plans by the statistics of calls, and with those of an empty
    # table it hashed every missed call of the run in each statement (4 times slower by round
    # 4). Outside the clock.
    await rows.conn.execute("ANALYZE")
    await rows.mark()
    expected = shape.rows(calls, first)
    push = asyncio.create_task(
        rig.feed.call(
            {
                "cmd": "burst",
                "target": "listener",
                "shape": shape.name,
                "calls": calls,
                "first": first,
                "prerender": True,
            }
        )
    )
    t1 = await rows.wait(expected, 300, proc)
    sent = await push
    elapsed = t1 - sent["t0"]
    return frames / elapsed, expected / elapsed


async def throughput(rig: Rig, sizes: ListenerSizes) -> list[Figure]:
    """Both stream shapes, interleaved round by round (bare, listener; next shape), so that a
    change in the machine's load touches both sides of each ratio alike."""
    shapes = ((RECORDED, sizes.throughput_calls), (DENSE, sizes.dense_calls))
    raw = rig.tmp / "listener.prof" if rig.profile else None
    proc, logfile = await rig.start_listener(0.0, raw)
    rows = await Rows.open(rig.dsn)
    bare_rates: dict[str, list[float]] = {s.name: [] for s, _ in shapes}
    ours: dict[str, list[float]] = {s.name: [] for s, _ in shapes}
    row_rates: dict[str, list[float]] = {s.name: [] for s, _ in shapes}
    ratios: dict[str, list[float]] = {s.name: [] for s, _ in shapes}
    frames: dict[str, int] = {}
    try:
        for r in range(sizes.rounds):
            for shape, calls in shapes:
                first = shape.first + r * calls
                frames[shape.name] = n = shape.frames(calls, first)
                bare = await _bare_round(rig, shape, calls, first, n)
                events, per_row = await _listener_round(rig, rows, proc, shape, calls, first, n)
                log(
                    f"round {r + 1}, {shape.name}: bare {bare:,.0f} ev/s, listener "
                    f"{events:,.0f} ev/s ({per_row:,.0f} rows/s), {events / bare:.2f}x"
                )
                bare_rates[shape.name].append(bare)
                ours[shape.name].append(events)
                row_rates[shape.name].append(per_row)
                ratios[shape.name].append(events / bare)
    finally:
        await rows.close()
        await _stop_listener(proc, logfile)
    if raw is not None and rig.profile is not None:
        scratch.summarise_profile(raw, rig.profile / "listener.txt")
        log(f"listener profile: {rig.profile / 'listener.txt'}")
    figures = []
    for shape, calls in shapes:
        name = shape.name
        what = f"{shape.what}, {calls:,} calls ({frames[name]:,} frames), {sizes.rounds} rounds"
        figures += [
            Figure(
                "1 listener",
                f"panoramisk bare dispatch, {what}",
                spread(bare_rates[name], "{:,.0f}") + " events/s",
            ),
            Figure(
                "1 listener",
                f"listener, {name} stream, until every row is committed to PostgreSQL",
                spread(ours[name], "{:,.0f}")
                + " events/s, "
                + spread(row_rates[name], "{:,.0f}")
                + " rows/s",
            ),
            Figure(
                "1 listener",
                f"listener ÷ bare dispatch, {name} stream, same run (median of rounds)",
                spread(ratios[name], "{:.3f}x"),
                f"≥ {shape.goal:.2f}x",
                statistics.median(ratios[name]) >= shape.goal,
            ),
        ]
    return figures


async def _visible(rows: Rows, seen: dict[str, float], stop: asyncio.Event) -> None:
    """Record when each new row first becomes visible, polling every 2 ms."""
    last = rows.base
    while not stop.is_set():
        found = await rows.conn.fetch(
            "SELECT id, linkedid FROM calls WHERE id > $1 ORDER BY id", last
        )
        now = time.time()
        for row in found:
            seen.setdefault(row["linkedid"], now)
            last = max(last, row["id"])
        await asyncio.sleep(0.002)


async def latency(rig: Rig, sizes: ListenerSizes) -> list[Figure]:
    assert rig.feed is not None
    proc, logfile = await rig.start_listener(sizes.settle)
    rows = await Rows.open(rig.dsn)
    figures: list[Figure] = []
    first = 3_000_000
    try:
        for rate, calls in sizes.latency:
            await rows.mark()
            seen: dict[str, float] = {}
            stop = asyncio.Event()
            poller = asyncio.create_task(_visible(rows, seen, stop))
            out = rig.tmp / f"hangups-{rate:g}.json"
            sent = await rig.feed.call(
                {
                    "cmd": "paced",
                    "target": "listener",
                    "rate": rate,
                    "calls": calls,
                    "first": first,
                    "scale": sizes.time_scale,
                    "out": str(out),
                }
            )
            expected = stream.rows(calls, first)
            try:
                async with asyncio.timeout(sizes.settle + 60):
                    while len(seen) < expected:
                        if proc.returncode is not None:
                            raise RuntimeError(f"the listener exited:\n{scratch.tail(logfile)}")
                        await asyncio.sleep(0.05)
            finally:
                stop.set()
                await poller
            hangups: dict[str, float] = json.loads(out.read_text("utf-8"))
            delays = [seen[k] - hangups[k] - sizes.settle for k in seen if k in hangups]
            p50, p99 = percentile(delays, 50), percentile(delays, 99)
            log(f"{rate:g} calls/s: {len(delays)} rows, p50 {ms(p50)}, p99 {ms(p99)}")
            figures.append(
                Figure(
                    "2 latency",
                    f"hang-up → row visible, {rate:g} calls/s ({len(delays):,} rows; "
                    f"settle {sizes.settle:g} s taken off)",
                    f"p50 {ms(p50)}, p99 {ms(p99)}",
                    "p99 < 100 ms",
                    p99 < 0.1,
                )
            )
            first += calls
            del sent
    finally:
        await rows.close()
        await _stop_listener(proc, logfile)
    return figures


async def _watch_rss(pid: int, peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            rss = scratch.rss_mib(pid)
        except (OSError, RuntimeError):
            return
        peak[0] = max(peak[0], rss)
        if rss > RSS_ABORT_MIB:
            return
        await asyncio.sleep(0.1)


async def _settled(rows: Rows, at_least: int, proc: asyncio.subprocess.Process) -> None:
    """At least ``at_least`` new rows, and no more arriving (the writer has drained)."""
    await rows.wait(at_least, 600, proc)
    last, still = -1, 0
    while still < 3:
        n = await rows.new()
        still = still + 1 if n == last else 0
        last = n
        await asyncio.sleep(0.05)


async def memory(rig: Rig, sizes: ListenerSizes) -> list[Figure]:
    assert rig.feed is not None
    figures: list[Figure] = []
    # One burst of recorded calls, as fast as the socket takes them.
    proc, logfile = await rig.start_listener(sizes.settle)
    rows = await Rows.open(rig.dsn)
    try:
        idle = scratch.rss_mib(proc.pid or 0)
        peak = [idle]
        stop = asyncio.Event()
        watcher = asyncio.create_task(_watch_rss(proc.pid or 0, peak, stop))
        first = 5_000_000
        push = asyncio.create_task(
            rig.feed.call(
                {
                    "cmd": "burst",
                    "target": "listener",
                    "shape": "recorded",
                    "calls": sizes.burst_calls,
                    "first": first,
                }
            )
        )
        waiting = asyncio.create_task(_settled(rows, stream.rows(sizes.burst_calls, first), proc))
        done, _ = await asyncio.wait({waiting, watcher}, return_when=asyncio.FIRST_COMPLETED)
        stop.set()
        if waiting not in done:
            waiting.cancel()
            proc.kill()
            await proc.wait()
            await push  # the generator finishes writing into the closed connection
            figures.append(
                Figure(
                    "3 memory",
                    f"listener RSS during a {sizes.burst_calls:,}-call burst",
                    f"> {RSS_ABORT_MIB:,.0f} MiB: stopped",
                    "< 100 MB",
                    False,
                )
            )
        else:
            await waiting
            await watcher
            await push
            after = scratch.rss_mib(proc.pid or 0)
            log(f"burst: idle {idle:.1f} MiB, peak {peak[0]:.1f} MiB, after {after:.1f} MiB")
            figures.append(
                Figure(
                    "3 memory",
                    f"listener RSS after a {sizes.burst_calls:,}-call burst of recorded calls "
                    f"(idle {idle:.0f} MiB)",
                    f"{after:.1f} MiB (peak {peak[0]:.1f} MiB)",
                    "< 100 MB",
                    after * 1.048576 < 100,
                )
            )
    finally:
        await rows.close()
        if proc.returncode is None or proc.returncode == 0:
            await _stop_listener(proc, logfile)
    figures.append(await _flat(rig, sizes))
    return figures


async def _flat(rig: Rig, sizes: ListenerSizes) -> Figure:
    """Many compact calls in batches; RSS after each: flat means nothing grows per call. At the
    default bounds: 1 % never end, so a 2,000,000-call run reaches the default max_open_calls
    (5,000) at 500,000 calls and then closes the oldest as each new one opens."""
    assert rig.feed is not None
    cap = sizes.flat_open_cap
    bound = ListenerSettings.max_open_calls if cap is None else cap
    extra: dict[str, object] = {} if cap is None else {"max_open_calls": cap}
    proc, logfile = await rig.start_listener(0.0, None, **extra)
    rows = await Rows.open(rig.dsn)
    samples: list[tuple[int, float]] = []
    first = 10_000_000
    try:
        await rows.mark()
        sent = 0
        while sent < sizes.flat_calls:
            batch = min(sizes.flat_batch, sizes.flat_calls - sent)
            await rig.feed.call(
                {
                    "cmd": "burst",
                    "target": "listener",
                    "shape": "compact",
                    "calls": batch,
                    "first": first + sent,
                }
            )
            sent += batch
            await _settled(rows, stream.compact_rows(sent, first), proc)
            samples.append((sent, scratch.rss_mib(proc.pid or 0)))
            log(f"flat: {sent:,} calls, RSS {samples[-1][1]:.1f} MiB")
    finally:
        await rows.close()
        await _stop_listener(proc, logfile)
    half = next(rss for n, rss in samples if n >= sent // 2)
    end = samples[-1][1]
    flat = end < half * 1.05 and end * 1.048576 < 100
    trail = ", ".join(
        f"{n // 1000:,}k: {rss:.0f}" for n, rss in samples[:: max(1, len(samples) // 5)]
    )
    return Figure(
        "3 memory",
        f"listener RSS over {sent:,} compact calls, 1 % never ending "
        f"(max_open_calls = {bound:,}{', the default' if cap is None else ''}); "
        "half-way → end",
        f"{half:.1f} → {end:.1f} MiB ({trail} MiB)",
        "< 100 MB, last half < +5 %",
        flat,
    )


async def run(
    server: str, sizes: ListenerSizes, only: frozenset[str], profile: Path | None = None
) -> list[Figure]:
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="cbd-bench-") as tmp:
        rig = Rig(server, Path(tmp), profile)
        rig.feed = await FeedProcess.start()
        try:
            async with scratch.database(server, "listener") as dsn:
                rig.dsn = dsn
                if "throughput" in only:
                    figures += await throughput(rig, sizes)
                if "latency" in only:
                    figures += await latency(rig, sizes)
                if "memory" in only:
                    figures += await memory(rig, sizes)
        finally:
            unexpected = await rig.feed.close()
        if unexpected:
            raise RuntimeError(f"the fake AMI got actions it did not expect: {unexpected}")
    return figures
