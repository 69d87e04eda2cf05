"""The callback inbox's live update: from a missed call written to PostgreSQL to the new list in
the page's hands.

``callback-desk web`` runs as its own process on a real socket against a scratch database; the
harness signs in, holds the event stream open (as the page's script does), then for each sample
writes a missed call the way the listener does and times until the stream says "changed" and a
GET of ``/inbox/list`` (what the script fetches next) shows the new number. The issue's goal:
within 2 seconds. Sign-in is timed too (argon2id with its default 64 MiB, t=3).

``python -m bench.web [--samples N]``; PostgreSQL as for ``python -m bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench import scratch
from bench.table import Figure, ms, percentile
from callback_desk.core.config import DatabaseSettings, Secret
from callback_desk.core.model import CallRecord, Direction, Outcome, Reason
from callback_desk.core.store import Store
from callback_desk.web.auth import Passwords
from callback_desk.web.store import WebStore
from callback_desk.web.views.base import SESSION_COOKIE

PASSWORD = "bench password 1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _call(i: int) -> CallRecord:
    at = datetime.now(UTC) - timedelta(seconds=5)
    number = f"+1212555{i:04d}"
    return CallRecord(
        linkedid=f"bench-web-{i}",
        direction=Direction.INBOUND,
        outcome=Outcome.MISSED,
        reason=Reason.NO_ANSWER,
        number=number,
        name="",
        number_key=number,
        callable=True,
        did="2000",
        rang=("PJSIP/100",),
        started_at=at,
        ended_at=at + timedelta(seconds=3),
        ring_seconds=3.0,
        reached_voicemail=False,
    )


async def run(server: str, samples: int = 50) -> list[Figure]:
    async with scratch.database(server, "web") as dsn:
        store = await Store.open(DatabaseSettings(Secret(dsn)), max_size=2)
        try:
            await WebStore(store.pool).add_user(
                "bench", "", "frontdesk", ("100",), Passwords().hash(PASSWORD)
            )
            with tempfile.TemporaryDirectory() as tmp:
                port = _free_port()
                config = scratch.write_config(
                    Path(tmp) / "web.toml",
                    {
                        "database": {"dsn": dsn},
                        "web": {"port": port, "secret": "b" * 40},
                    },
                )
                proc = await asyncio.create_subprocess_exec(
                    *scratch.command("callback-desk"), "--config", str(config), "web",
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
                )  # fmt: skip
                try:
                    return await _measure(store, f"http://127.0.0.1:{port}", samples)
                finally:
                    proc.terminate()
                    await proc.wait()
        finally:
            await store.close()


async def _measure(store: Store, base: str, samples: int) -> list[Figure]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for _ in range(200):
            try:
                page = await client.get("/sign-in")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        else:
            raise RuntimeError("callback-desk web did not start")
        # The session cookie is Secure: carried by hand over this loopback-only plain HTTP.
        anon = page.cookies[SESSION_COOKIE]
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        started = time.perf_counter()
        signed = await client.post(
            "/sign-in",
            data={"username": "bench", "password": PASSWORD, "csrf": csrf[1]},
            headers={"cookie": f"{SESSION_COOKIE}={anon}"},
        )
        sign_in = time.perf_counter() - started
        cookie = {"cookie": f"{SESSION_COOKIE}={signed.cookies[SESSION_COOKIE]}"}
        delays: list[float] = []
        async with client.stream("GET", "/events", headers=cookie) as events:
            lines = events.aiter_lines()
            await anext(lines)  # "retry:" — the stream is open
            await anext(lines)
            for i in range(samples):
                started = time.perf_counter()
                await store.record_call("pbx", _call(i))
                while await anext(lines) != "event: changed":
                    pass
                shown = await client.get("/inbox/list", headers=cookie)
                assert f"555-{i:04d}" in shown.text
                delays.append(time.perf_counter() - started)
    p95 = percentile(delays, 95)
    return [
        Figure(
            "6 web",
            "missed call written → new list in the page (median, p95)",
            f"{ms(percentile(delays, 50))}, {ms(p95)} ({samples} calls)",
            "< 2 s",
            p95 < 2.0,
        ),
        Figure("6 web", "sign-in (argon2id, 64 MiB, t=3)", ms(sign_in)),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web", description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args(argv)
    for figure in asyncio.run(run(scratch.server_dsn(), args.samples)):
        sys.stdout.write(f"{figure.measure}: {figure.result}  (goal {figure.goal or '—'})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
