"""A strict fake Asterisk Manager Interface on a real TCP socket.

It greets with the AMI banner, answers Login (echoing ActionID) and Ping, can push recorded event
frames (``tests/data/*.ami``) to every connected client, drop connections and go silent. Any
action it was not scripted for is recorded in :attr:`FakeAmi.unexpected` and answered with an
error; the fixture fails the test if that list is not empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from pathlib import Path

from callback_desk.core.amiframe import Frame as Frame  # re-exported for the tests
from callback_desk.core.amiframe import parse_frame

Responder = Callable[[Frame], list[str]]

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"  # traces recorded in the lab


def frame(**headers: str) -> str:
    return "".join(f"{key}: {value}\r\n" for key, value in headers.items()) + "\r\n"


def load_trace(name: str) -> list[str]:
    """The event frames of a recorded trace, each normalised to CRLF line ends.

    The banner and the capture's own login response are left out: the fake sends its own.
    Timestamps are moved to now, keeping their spacing: the listener does not believe a
    Timestamp more than a day away from its own clock, and a trace is older than that.
    """
    text = (DATA / name).read_text("utf-8").replace("\r\n", "\n")
    frames = []
    shift: float | None = None
    for block in text.split("\n\n"):
        lines = [line for line in block.split("\n") if line.strip()]
        if lines and lines[0].startswith("Event: "):
            for i, line in enumerate(lines):
                if line.startswith("Timestamp: "):
                    stamp = float(line.removeprefix("Timestamp: "))
                    shift = time.time() - stamp if shift is None else shift
                    lines[i] = f"Timestamp: {stamp + shift:.6f}"
            frames.append("\r\n".join(lines) + "\r\n\r\n")
    return frames


class FakeAmi:
    def __init__(self, username: str = "callbackdesk", secret: str = "s3cret") -> None:
        self.username = username
        self.secret = secret
        self.uptime = 3600
        self.silent = False
        self.logins = 0
        self.failed_logins = 0
        self.actions: list[Frame] = []
        self.unexpected: list[Frame] = []
        self.responders: dict[str, Responder] = {"coreshowchannels": self._channels}
        # Uniqueids CoreShowChannels reports; None answers it with a permission error.
        self.channels: list[str] | None = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self, tls: ssl.SSLContext | None = None) -> FakeAmi:
        """Listen on 127.0.0.1, an ephemeral port; ``tls`` serves AMI over TLS (as port 5039)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.drop()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    @property
    def connected(self) -> int:
        return len(self._writers)

    async def push(self, *frames: str) -> None:
        """Send raw frames (CRLF-terminated, blank line after each) to every client."""
        for writer in list(self._writers):
            writer.write("".join(frames).encode("utf-8"))
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async def push_bytes(self, data: bytes) -> None:
        for writer in list(self._writers):
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async def drop(self) -> None:
        for writer in list(self._writers):
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            writer.write(b"Asterisk Call Manager/9.0.0\r\n")
            while True:
                try:
                    raw = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                action = parse_frame(raw.decode("utf-8"))
                self.actions.append(action)
                for reply in self._answer(action):
                    writer.write(reply.encode("utf-8"))
                if action.get("action", "").lower() == "login" and not self._logged(action):
                    await writer.drain()
                    return
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
        finally:
            self._writers.discard(writer)
            writer.close()
            self._handlers.discard(task)

    def _channels(self, action: Frame) -> list[str]:
        action_id = action.get("actionid", "")
        if self.channels is None:
            return [frame(Response="Error", ActionID=action_id, Message="Permission denied")]
        return [
            frame(
                Response="Success",
                ActionID=action_id,
                EventList="start",
                Message="Channels will follow",
            ),
            *(
                frame(Event="CoreShowChannel", ActionID=action_id, Uniqueid=uid, Linkedid=uid)
                for uid in self.channels
            ),
            frame(
                Event="CoreShowChannelsComplete",
                ActionID=action_id,
                EventList="Complete",
                ListItems=str(len(self.channels)),
            ),
        ]

    def _logged(self, action: Frame) -> bool:
        return action.get("username") == self.username and action.get("secret") == self.secret

    def _answer(self, action: Frame) -> list[str]:
        name = action.get("action", "").lower()
        action_id = action.get("actionid", "")
        if name == "login":
            if self._logged(action):
                self.logins += 1
                return [
                    frame(
                        Response="Success", ActionID=action_id, Message="Authentication accepted"
                    ),
                    frame(
                        Event="FullyBooted",
                        Privilege="system,all",
                        Uptime=str(self.uptime),
                        LastReload=str(self.uptime),
                        Status="Fully Booted",
                    ),
                ]
            self.failed_logins += 1
            return [frame(Response="Error", ActionID=action_id, Message="Authentication failed")]
        if name == "ping":
            if self.silent:
                return []
            return [
                frame(
                    Response="Success",
                    ActionID=action_id,
                    Ping="Pong",
                    Timestamp="1700000000.000000",
                )
            ]
        if name in self.responders:
            return self.responders[name](action)
        self.unexpected.append(action)
        return [frame(Response="Error", ActionID=action_id, Message="Not scripted in FakeAmi")]
