"""A bounded soak in the lab: a steady stream of real calls from the carrier while, in turn,
listener B (a second process) is SIGKILLed, PostgreSQL is cut away from listener A (it holds
the calls), and A's AMI link is cut (those calls come back from the PBX's CEL). Every call must
end up exactly once, decided right.

``CALLBACK_DESK_SOAK_SECONDS`` sets how long calls are placed (default 60, CI); the faults sit at
the same fractions of any length, so ``CALLBACK_DESK_SOAK_SECONDS=600`` is the long run. The
figures are printed (``pytest -s``) for docs/operations.md, "What the lab tests prove".
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ami_listener.gaps import watch
from ami_listener.listener import Listener
from callback_desk.core.store import Store
from fakes.poll import until
from fakes.proxy import CuttableProxy
from fakes.settings import make_settings
from tests.lab.lab import DID_DIRECT, DID_RINGGROUP, PRODUCT_USER, Lab
from tests.lab.test_gaps_lab import CDR_DSN, running
from tests.lab.test_two_listeners_lab import fetch, start_listener

pytestmark = pytest.mark.lab

SECONDS = float(os.environ.get("CALLBACK_DESK_SOAK_SECONDS", "60"))
INTERVAL = 1.5  # one new call every INTERVAL seconds
PREFIX = "212555"  # + 4 digits: the call's sequence number


@dataclass
class Fault:
    name: str
    start: float  # fraction of SECONDS
    end: float
    began: float = 0.0  # monotonic, when it was applied
    ended: float = 0.0
    calls: list[str] = field(default_factory=list)  # numbers placed while it lasted


async def test_steady_calls_through_db_cut_listener_kill_and_ami_cut_lose_nothing(
    lab: Lab, store: Store, db_dsn: str, tmp_path: Path
) -> None:
    # Listener A reaches PostgreSQL through a proxy the soak cuts: whichever server the suite
    # uses (CALLBACK_DESK_TEST_DSN's, or the embedded one on its Unix socket).
    pg_proxy, a_dsn = await CuttableProxy.for_dsn(db_dsn)
    ami_proxy = await CuttableProxy("127.0.0.1", 5038).start()
    settings = make_settings(
        a_dsn,
        database={"connect_timeout": 2},
        ami={
            "host": "127.0.0.1",
            "port": ami_proxy.port,
            "username": PRODUCT_USER["username"],
            "secret": PRODUCT_USER["secret"],
            "reconnect_max": 1.0,
            "ping_interval": 2.0,
        },
        pbx={"name": "lab", "inbound_contexts": ["from-pstn"]},
        listener={"settle_seconds": 1.0},
        reconcile={
            "enabled": True,
            "source": "postgresql",
            "dsn": CDR_DSN,
            "timezone": "UTC",
            "instance": "a",
            "heartbeat_seconds": 1,
            "margin_seconds": 5,
            "recheck_seconds": 3,
            "rechecks": 10,
        },
    )
    a_store = await Store.open(settings.database)
    a = Listener(settings, a_store, watch(settings, a_store))
    b = await start_listener(db_dsn, "b", tmp_path / "b")
    # B dies first, so that afterwards A alone must hold calls through the database cut and
    # the PBX's CEL alone can give back the calls of A's AMI cut.
    faults = [
        Fault("listener B SIGKILLed", 0.10, 1.0),
        Fault("PostgreSQL cut from listener A", 0.20, 0.45),
        Fault("AMI cut from listener A", 0.60, 0.75),
    ]
    expected: dict[str, str] = {}
    try:
        async with running(a):
            await until(lambda: _both_beat(db_dsn), timeout=30, what="A and B logged in")
            await lab.set_behaviour("phones", "100", "ring")
            await lab.set_behaviour("phones", "101", "answer")
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            calls: list[str] = []
            i = 0
            while (elapsed := loop.time() - t0) < SECONDS:
                _apply(faults, elapsed / SECONDS, loop.time(), pg_proxy, ami_proxy, b)
                number = f"{PREFIX}{i:04d}"
                if i % 2:  # ring group: desk 101 answers, 2 s of talk
                    expected[number] = "answered"
                    call = await lab.inbound_call(
                        DID_RINGGROUP, number, "Soak", then="talk", variables={"HOLD": 2}
                    )
                else:  # direct line: desk 100 rings, the caller gives up after 2 s
                    expected[number] = "missed"
                    call = await lab.inbound_call(DID_DIRECT, number, "Soak", ring_timeout_ms=2000)
                calls.append(call)
                for fault in faults:
                    if fault.began and not fault.ended:
                        fault.calls.append(number)
                i += 1
                # The pace of a steady stream (not a synchronisation).
                await asyncio.sleep(max(0.0, t0 + i * INTERVAL - loop.time()))
            _apply(faults, 2.0, loop.time(), pg_proxy, ami_proxy, b)
            for call in calls:
                await lab.wait_call_ended(call, timeout=60)
            await lab.wait_pbx_idle(60)
            started = time.monotonic()

            async def complete() -> bool:
                rows = await fetch(db_dsn, "SELECT 1 FROM calls WHERE number LIKE $1", PREFIX + "%")
                return len(rows) >= len(expected)

            await until(complete, timeout=120, interval=0.5, what="a row for every soak call")
            caught_up = time.monotonic() - started
            stats = dict(a.stats)
    finally:
        pg_proxy.restore()
        ami_proxy.restore()
        if b.returncode is None:
            b.send_signal(signal.SIGTERM)
            await b.wait()
        await a_store.close()
        await pg_proxy.close()
        await ami_proxy.close()

    rows = await fetch(
        db_dsn,
        "SELECT number, outcome, reason, gap_id FROM calls WHERE number LIKE $1",
        PREFIX + "%",
    )
    got: dict[str, list[str]] = {}
    for r in rows:
        got.setdefault(r["number"], []).append(r["outcome"])
    lost = sorted(set(expected) - set(got))
    doubled = sorted(n for n, outcomes in got.items() if len(outcomes) > 1)
    wrong = sorted(n for n in expected if n in got and got[n] != [expected[n]])
    gaps = await fetch(db_dsn, "SELECT source, filled_by, rows_added FROM listener_gaps")
    reconciled = sum(1 for r in rows if r["gap_id"] is not None)
    print(  # noqa: T201  # the figures for docs/operations.md
        f"\nsoak: {len(expected)} calls in {SECONDS:.0f} s (one every {INTERVAL} s); "
        + "; ".join(
            f"{f.name}: {f.ended - f.began:.0f} s, {len(f.calls)} calls placed" for f in faults
        )
        + f"; lost {len(lost)}, duplicated {len(doubled)}, wrong {len(wrong)}; "
        f"{reconciled} rows from gaps {[tuple(g) for g in gaps]}; "
        f"all rows {caught_up:.0f} s after the last call; listener A {stats}"
    )
    assert (lost, doubled, wrong) == ([], [], [])
    assert all(f.calls for f in faults), [(f.name, f.calls) for f in faults]
    assert [g["source"] for g in gaps] == ["ami_cut"] and gaps[0]["filled_by"] == "cel"


def _apply(
    faults: list[Fault],
    progress: float,
    now: float,
    pg_proxy: CuttableProxy,
    ami_proxy: CuttableProxy,
    b: asyncio.subprocess.Process,
) -> None:
    kill, pg, ami = faults
    if not pg.began and progress >= pg.start:
        pg.began = now
        pg_proxy.cut()
    if pg.began and not pg.ended and progress >= pg.end:
        pg.ended = now
        pg_proxy.restore()
    if not kill.began and progress >= kill.start:
        kill.began = now
        b.kill()
    if kill.began and not kill.ended and progress >= kill.end:
        kill.ended = now
    if not ami.began and progress >= ami.start:
        ami.began = now
        ami_proxy.cut()
    if ami.began and not ami.ended and progress >= ami.end:
        ami.ended = now
        ami_proxy.restore()


async def _both_beat(dsn: str) -> bool:
    rows = await fetch(dsn, "SELECT listener FROM listener_heartbeats")
    return {r["listener"] for r in rows} == {"a", "b"}
