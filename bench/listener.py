"""Listener throughput and memory, against panoramisk's bare dispatch rate.

Both sides read the same stream of synthetic calls from the fake AMI server over a real TCP
socket on 127.0.0.1:

- bare: a panoramisk Manager whose only callback counts events (its parse + dispatch cost);
- listener: Callback Desk's listener end to end (UTF-8 framing, queue, typed parsing, call
  tracking, decisions) into a sink that counts decided calls, with settle_seconds = 0.

Usage: .venv/bin/python -m bench.listener [--calls 20000] [--memory-calls 200000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Sequence
from typing import Any

from panoramisk import Manager

from ami_listener.listener import Listener
from callback_desk.core.model import CallRecord
from fakes.ami_server import FakeAmi
from fakes.frames import event, missed_call
from fakes.settings import make_settings

# Noise every PBX sends that the listener must read and drop (VarSet dominates real streams).
NOISE = event(
    "VarSet",
    Channel="PJSIP/x",
    Uniqueid="n",
    Linkedid="n",
    Variable="RTPAUDIOQOS",
    Value="ssrc=1;themssrc=2;lp=0;rxjitter=0.000000",
)


def stream(calls: int, offset: int = 0) -> list[str]:
    frames: list[str] = []
    for i in range(offset, offset + calls):
        frames += missed_call(f"{i}.1")
        frames += [NOISE] * 4
    return frames


async def bare(frames: list[str]) -> float:
    ami = await FakeAmi().start()
    seen = 0
    done = asyncio.Event()

    def count(_m: Any, _e: Any) -> None:
        nonlocal seen
        seen += 1
        if seen == len(frames):
            done.set()

    manager = Manager(
        loop=asyncio.get_running_loop(),
        host="127.0.0.1",
        port=ami.port,
        username="callbackdesk",
        secret="s3cret",
        ping_delay=10**9,
    )
    manager.register_event("*", count)
    manager.connect()
    while ami.logins < 1 or ami.connected < 1:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    seen = 0
    t0 = time.perf_counter()
    await ami.push(*frames)
    await done.wait()
    elapsed = time.perf_counter() - t0
    manager.close()
    await ami.close()
    return len(frames) / elapsed


class CountingSink:
    def __init__(self) -> None:
        self.count = 0
        self.done = asyncio.Event()
        self.target = 0

    async def record_calls(self, pbx: str, calls: Sequence[CallRecord]) -> int:
        self.count += len(calls)
        if self.count >= self.target:
            self.done.set()
        return len(calls)


async def listener(frames: list[str], calls: int) -> float:
    ami = await FakeAmi().start()
    sink = CountingSink()
    sink.target = calls
    settings = make_settings(
        ami={"port": ami.port, "secret": "s3cret"}, listener={"settle_seconds": 0.0}
    )
    li = Listener(settings, sink)
    task = asyncio.create_task(li.run())
    await li.wait_logged_in()
    t0 = time.perf_counter()
    await ami.push(*frames)
    await sink.done.wait()
    elapsed = time.perf_counter() - t0
    li.stop()
    await task
    await ami.close()
    return len(frames) / elapsed


def rss_mib() -> float:
    """Resident memory of this process (tracemalloc would slow a million calls tenfold)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def memory(calls: int, batch: int = 20000) -> list[tuple[int, float]]:
    """Resident memory after each batch of calls: flat means nothing grows per call."""
    ami = await FakeAmi().start()
    sink = CountingSink()
    settings = make_settings(
        ami={"port": ami.port, "secret": "s3cret"}, listener={"settle_seconds": 0.0}
    )
    li = Listener(settings, sink)
    task = asyncio.create_task(li.run())
    await li.wait_logged_in()
    samples: list[tuple[int, float]] = []
    for start in range(0, calls, batch):
        sink.target = start + batch
        sink.done.clear()
        await ami.push(*stream(batch, start))
        await sink.done.wait()
        gc.collect()
        if (start + batch) % (calls // 10 or batch) == 0:
            samples.append((start + batch, rss_mib()))
    li.stop()
    await task
    await ami.close()
    return samples


async def main(calls: int, memory_calls: int) -> None:
    frames = stream(calls)
    bare_rate = await bare(frames)
    ours = await listener(frames, calls)
    print(f"events: {len(frames)} ({calls} calls, {len(frames) // calls} frames each)")
    print(f"panoramisk bare dispatch : {bare_rate:10,.0f} events/s")
    print(f"listener end to end      : {ours:10,.0f} events/s  ({ours / bare_rate:.2f}x bare)")
    if memory_calls:
        for done, mib in await memory(memory_calls):
            print(f"resident memory after {done:>9,} calls: {mib:7.1f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--memory-calls", type=int, default=200000)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.memory_calls))
