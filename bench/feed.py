"""The stream generator: a fake Asterisk (real AMI on a real socket) in its own process.

``python -m bench.feed`` serves two strict fake AMI servers (:class:`fakes.ami_server.FakeAmi`),
one for panoramisk's bare dispatch and one for the listener, so each can be fed alone while the
other stays connected. It is driven by JSON lines on stdin and answers with JSON lines on
stdout (see :class:`Feed`); it runs apart from the process it feeds so that generating the
stream never competes with the listener for the same event loop.

Commands: ``{"cmd": "ports"}``, ``{"cmd": "logins", "target": T}``,
``{"cmd": "burst", "target": T, "shape": "recorded"|"dense"|"compact", "calls": N, "first": K}``,
``{"cmd": "paced", "target": T, "rate": R, "calls": N, "first": K, "scale": S, "out": PATH}``,
``{"cmd": "quit"}`` (answers with the actions the fakes did not expect; there must be none).
"""

from __future__ import annotations

import asyncio
import heapq
import json
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from bench import stream
from fakes.ami_server import FakeAmi

CHUNK = 256 * 1024  # bytes per write: big enough to keep the socket full


async def _push(ami: FakeAmi, frames: Iterable[str]) -> tuple[int, int]:
    """Write frames in chunks, waiting for the reader (TCP back-pressure); (frames, bytes)."""
    count = size = 0
    buf: list[str] = []
    held = 0
    for frame in frames:
        buf.append(frame)
        held += len(frame)
        count += 1
        if held >= CHUNK:
            data = "".join(buf).encode("utf-8")
            await ami.push_bytes(data)
            size += len(data)
            buf, held = [], 0
    if buf:
        data = "".join(buf).encode("utf-8")
        await ami.push_bytes(data)
        size += len(data)
    return count, size


def _schedule(rate: float, calls: int, first: int, scale: float, t0: float) -> Iterator[Any]:
    """Every frame of ``calls`` calls starting ``1/rate`` apart, in the order of their time on
    the PBX (calls overlap as they do), each call's frames spaced as recorded times ``scale``."""
    heap: list[tuple[float, int, int, stream.Call]] = []
    for n in range(calls):
        k = first + n
        start = t0 + n / rate
        c = stream.call(k, start)
        heapq.heappush(heap, (start, k, 0, c))
    while heap:
        at, k, i, c = heapq.heappop(heap)
        yield at, c, i
        if i + 1 < len(c.frames):
            start = at - c.frames[i][0] * scale
            heapq.heappush(heap, (start + c.frames[i + 1][0] * scale, k, i + 1, c))


async def _paced(ami: FakeAmi, rate: float, calls: int, first: int, scale: float) -> Any:
    """Send calls at ``rate`` per second in real time; the wall-clock moment each call's last
    Hangup left (the caller hung up), by Linkedid."""
    hangups: dict[str, float] = {}
    t0 = time.time() + 0.2
    due: list[str] = []
    pending_hangups: list[str] = []
    for at, c, i in _schedule(rate, calls, first, scale, t0):
        if due and at - time.time() > 0.001:
            await ami.push_bytes("".join(due).encode("utf-8"))
            sent = time.time()
            for linkedid in pending_hangups:
                hangups[linkedid] = sent
            due, pending_hangups = [], []
        delay = at - time.time()
        if delay > 0.001:
            await asyncio.sleep(delay)
        due.append(c.frames[i][1])
        if i == c.hangup:
            pending_hangups.append(c.linkedid)
    if due:
        await ami.push_bytes("".join(due).encode("utf-8"))
        sent = time.time()
        for linkedid in pending_hangups:
            hangups[linkedid] = sent
    return {"t0": t0, "t1": time.time(), "hangups": hangups}


class Feed:
    def __init__(self) -> None:
        self.fakes: dict[str, FakeAmi] = {}

    async def start(self) -> None:
        for target in ("bare", "listener"):
            self.fakes[target] = await FakeAmi().start()

    async def handle(self, cmd: dict[str, Any]) -> Any:
        name = cmd["cmd"]
        if name == "ports":
            return {t: fake.port for t, fake in self.fakes.items()}
        ami = self.fakes[cmd.get("target", "listener")]
        if name == "logins":
            return {"logins": ami.logins, "connected": ami.connected}
        if name == "burst":
            if cmd["shape"] == "recorded":
                # Stamped now: the listener distrusts a PBX clock far from its own.
                frames: Iterable[str] = stream.burst(cmd["calls"], cmd["first"], time.time())
            elif cmd["shape"] == "dense":
                frames = stream.compact(cmd["calls"], cmd["first"], never_end_every=0)
            else:
                frames = stream.compact(cmd["calls"], cmd["first"], cmd.get("never_end_every", 100))
            if cmd.get("prerender", False):
                frames = list(frames)  # so that rendering never slows the clocked part
            t0 = time.time()
            count, size = await _push(ami, frames)
            return {"t0": t0, "t1": time.time(), "frames": count, "bytes": size}
        if name == "paced":
            result = await _paced(ami, cmd["rate"], cmd["calls"], cmd["first"], cmd["scale"])
            with open(cmd["out"], "w", encoding="utf-8") as out:
                json.dump(result["hangups"], out)
            return {"t0": result["t0"], "t1": result["t1"], "calls": len(result["hangups"])}
        raise ValueError(f"unknown command {name!r}")

    async def close(self) -> list[dict[str, str]]:
        unexpected = [a for fake in self.fakes.values() for a in fake.unexpected]
        for fake in self.fakes.values():
            await fake.close()
        return unexpected


class FeedProcess:
    """The harness's handle on ``python -m bench.feed``: one JSON command, one JSON reply."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self._lock = asyncio.Lock()
        self.ports: dict[str, int] = {}

    @classmethod
    async def start(cls) -> FeedProcess:
        from bench.scratch import REPO

        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.feed",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=REPO,
            limit=2**24,
        )
        feed = cls(proc)
        feed.ports = await feed.call({"cmd": "ports"})
        return feed

    async def call(self, cmd: dict[str, Any]) -> Any:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        async with self._lock:
            self._proc.stdin.write(json.dumps(cmd).encode() + b"\n")
            await self._proc.stdin.drain()
            line = await self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the stream generator died (exit {await self._proc.wait()})")
        return json.loads(line)

    async def wait_logins(self, target: str, n: int, timeout: float = 30) -> None:
        async with asyncio.timeout(timeout):
            while (await self.call({"cmd": "logins", "target": target}))["logins"] < n:
                await asyncio.sleep(0.05)

    async def close(self) -> list[Any]:
        """Stop the generator; the actions its fakes did not expect (there must be none)."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(b'{"cmd": "quit"}\n')
        await self._proc.stdin.drain()
        line = await self._proc.stdout.readline()
        await self._proc.wait()
        unexpected: list[Any] = json.loads(line)["unexpected"] if line else []
        return unexpected


async def main() -> int:
    feed = Feed()
    await feed.start()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            cmd = json.loads(line)
            if cmd["cmd"] == "quit":
                break
            reply = await feed.handle(cmd)
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()
    finally:
        unexpected = await feed.close()
        sys.stdout.write(json.dumps({"unexpected": unexpected}) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
