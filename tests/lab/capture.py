"""Record the raw AMI stream of the lab PBX to a file, byte for byte.

File format (``tests/data/*.ami``): exactly the bytes Asterisk sent on one AMI connection,
nothing added, nothing re-encoded:

* line endings are **CRLF** (``\\r\\n``), as AMI sends them; frames are ``Key: Value`` lines
  ended by an empty line (``\\r\\n\\r\\n``);
* the first line is the banner (``Asterisk Call Manager/<version>\\r\\n``, no blank line
  after it), then the ``Response: Success`` frame of the Login (``ActionID:
  capture-login``), then events in arrival order (``FullyBooted`` first only for users with
  the ``system`` read class, e.g. ``lab``; ``callbackdesk`` does not get it);
* values are UTF-8 as Asterisk wrote them; every event carries ``Timestamp:``
  (``timestampevents = yes``);
* the file ends after the last complete frame (a partial frame still being received when
  the capture stops is not written).

Command line (lab running, see ``tests/lab/labctl``)::

    .venv/bin/python -m tests.lab.capture tests/data/<name>.ami --seconds 30
    .venv/bin/python -m tests.lab.capture out.ami --user callbackdesk --secret labsecret

The AMI user decides which event classes appear: ``lab`` sees everything, ``callbackdesk``
(the product's account) only ``call,dialplan,agent,user,cdr,reporting``. The fixtures in
``tests/data`` were recorded as ``callbackdesk`` by ``tests/lab/record_traces.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Final

PBX_HOST: Final = "127.0.0.1"
AMI_PORT: Final = 5038
FRAME_END: Final = b"\r\n\r\n"


class CaptureError(RuntimeError):
    pass


def _check(value: str, what: str) -> str:
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"{what} must not contain CR, LF or NUL")
    return value


def parse_frames(data: bytes) -> list[dict[str, str]]:
    """Split raw AMI bytes into frames (``Key: Value`` dicts; a repeated key keeps its last
    value; the banner line is skipped). For inspecting captures; not the product's parser."""
    frames: list[dict[str, str]] = []
    text = data.decode("utf-8", "replace")
    if text.startswith("Asterisk Call Manager/"):
        text = text.split("\r\n", 1)[1] if "\r\n" in text else ""
    for block in text.split("\r\n\r\n"):
        frame: dict[str, str] = {}
        for line in block.split("\r\n"):
            key, sep, value = line.partition(": ")
            if sep:
                frame[key] = value
        if frame:
            frames.append(frame)
    return frames


class Capture:
    """One AMI connection to the PBX whose received bytes go verbatim to ``path``.

    ``async with Capture(path, user, secret) as cap: ...`` - the file is written (complete
    frames only) when the block exits. ``cap.frames()`` parses what arrived so far, and
    ``await cap.wait_until(pred, timeout)`` polls it.
    """

    def __init__(
        self,
        path: Path,
        username: str = "lab",
        secret: str = "lab",
        host: str = PBX_HOST,
        port: int = AMI_PORT,
    ) -> None:
        self.path = path
        self.username = _check(username, "username")
        self.secret = _check(secret, "secret")
        self.host = host
        self.port = port
        self.data = bytearray()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pump: asyncio.Task[None] | None = None
        self._closed_reason: str | None = None

    async def __aenter__(self) -> Capture:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            banner = await self._reader.readline()
            if not banner.startswith(b"Asterisk Call Manager/"):
                raise CaptureError(f"{self.host}:{self.port} is not an AMI: {banner[:60]!r}")
            self.data += banner
            self._writer.write(
                (
                    f"Action: Login\r\nActionID: capture-login\r\nUsername: {self.username}\r\n"
                    f"Secret: {self.secret}\r\nEvents: on\r\n\r\n"
                ).encode()
            )
            await self._writer.drain()
            while FRAME_END not in self.data[len(banner) :]:
                chunk = await self._reader.read(65536)
                if not chunk:
                    raise CaptureError("AMI closed the connection during login")
                self.data += chunk
        login = parse_frames(bytes(self.data))[0]
        if login.get("Response") != "Success":
            raise CaptureError(f"AMI login as {self.username!r} failed: {login.get('Message')}")
        self._pump = asyncio.create_task(self._read(), name=f"capture {self.path.name}")

    async def _read(self) -> None:
        assert self._reader is not None
        while chunk := await self._reader.read(65536):
            self.data += chunk
        self._closed_reason = "AMI closed the connection"

    def frames(self) -> list[dict[str, str]]:
        return parse_frames(bytes(self.data))

    async def wait_until(
        self,
        predicate: Callable[[list[dict[str, str]]], bool],
        timeout: float,
        what: str = "condition",
    ) -> None:
        """Poll the frames received so far until ``predicate(frames)`` holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self.frames()):
            if self._closed_reason:
                raise CaptureError(f"{self._closed_reason} while waiting for {what}")
            if loop.time() >= deadline:
                raise CaptureError(f"timed out after {timeout:g}s waiting for {what}")
            await asyncio.sleep(0.05)

    async def stop(self) -> int:
        """Close the connection, write complete frames to ``path``; return bytes written."""
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
            self._writer = None
        data = bytes(self.data)
        end = data.rfind(FRAME_END)
        complete = data[: end + len(FRAME_END)] if end >= 0 else data
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_bytes(complete)
        return len(complete)


async def _main(args: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Capture(Path(args.out), args.user, args.secret, args.host, args.port) as cap:
        sys.stderr.write(f"capturing {args.host}:{args.port} as {args.user} -> {args.out}\n")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.seconds)
    sys.stderr.write(f"wrote {len(cap.frames())} frames to {args.out}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("out", help="output file, e.g. tests/data/<name>.ami")
    parser.add_argument("--seconds", type=float, default=None, help="stop after N s (default: ^C)")
    parser.add_argument("--user", default="lab")
    parser.add_argument("--secret", default="lab")
    parser.add_argument("--host", default=PBX_HOST)
    parser.add_argument("--port", type=int, default=AMI_PORT)
    return asyncio.run(_main(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
