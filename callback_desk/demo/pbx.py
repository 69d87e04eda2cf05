"""A simulated PBX: the AMI side of Asterisk on a local socket, for the demo.

It speaks the protocol the listener speaks to a real Asterisk (banner, Login with ActionID,
FullyBooted, Ping, CoreShowChannels, Logoff) and sends recorded event frames as they are. It
answers click-to-call's ``Originate`` as Asterisk does when the desk phone picks up ("queued",
then an ``OriginateResponse`` with Reason 4, answered); it dials nobody. An action it does not
know is answered with an error, as Asterisk answers an action the account may not run, and
logged: the demo must not depend on anything a real PBX would refuse.

``demo --keep`` leaves one running (:mod:`callback_desk.demo.kept`) for the kept inbox's "Call
from my desk phone".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from callback_desk.core.amiframe import parse_frame
from callback_desk.core.phone import mask

logger = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/11.0.0\r\n"


def frame(**headers: str) -> str:
    return "".join(f"{key}: {value}\r\n" for key, value in headers.items()) + "\r\n"


class SimulatedPbx:
    def __init__(self, username: str, secret: str) -> None:
        self._username = username
        self._secret = secret
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self, sock: socket.socket | None = None) -> None:
        """Listen on 127.0.0.1 (an ephemeral port), or on ``sock`` when one is given."""
        if sock is not None:
            self._server = await asyncio.start_server(self._serve, sock=sock)
        else:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._clients):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def send(self, frames: list[str]) -> None:
        """Send event frames to every logged-in client."""
        data = "".join(frames).encode("utf-8")
        for writer in list(self._clients):
            writer.write(data)
            with contextlib.suppress(ConnectionError):
                await writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # a connection handler always runs in a task
        self._tasks.add(task)
        try:
            writer.write(BANNER)
            while True:
                try:
                    raw = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                action = parse_frame(raw.decode("utf-8", errors="replace"))
                if not self._answer(action, writer):
                    await writer.drain()
                    return
                with contextlib.suppress(ConnectionError):
                    await writer.drain()
        finally:
            self._clients.discard(writer)
            self._tasks.discard(task)
            writer.close()

    def _answer(self, action: dict[str, str], writer: asyncio.StreamWriter) -> bool:
        """Reply to one action; False ends the connection."""
        name = action.get("action", "").lower()
        action_id = action.get("actionid", "")
        if name == "login":
            if action.get("username") != self._username or action.get("secret") != self._secret:
                writer.write(
                    frame(
                        Response="Error", ActionID=action_id, Message="Authentication failed"
                    ).encode()
                )
                return False
            writer.write(
                (
                    frame(Response="Success", ActionID=action_id, Message="Authentication accepted")
                    + frame(
                        Event="FullyBooted",
                        Privilege="system,all",
                        Uptime="7200",
                        LastReload="7200",
                        Status="Fully Booted",
                    )
                ).encode()
            )
            self._clients.add(writer)
            return True
        if name == "ping":
            writer.write(frame(Response="Success", ActionID=action_id, Ping="Pong").encode())
            return True
        if name == "coreshowchannels":  # asked after a reconnect: between calls, none are up
            writer.write(
                (
                    frame(
                        Response="Success",
                        ActionID=action_id,
                        EventList="start",
                        Message="Channels will follow",
                    )
                    + frame(
                        Event="CoreShowChannelsComplete",
                        ActionID=action_id,
                        EventList="Complete",
                        ListItems="0",
                    )
                ).encode()
            )
            return True
        if name == "originate":
            writer.write("".join(originated(action)).encode())
            return True
        if name == "logoff":
            writer.write(
                frame(
                    Response="Goodbye", ActionID=action_id, Message="Thanks for all the fish."
                ).encode()
            )
            return False
        logger.warning("The simulated PBX does not know the AMI action %r", name[:40])
        writer.write(
            frame(Response="Error", ActionID=action_id, Message="Invalid/unknown command").encode()
        )
        return True


def originated(action: dict[str, str]) -> list[str]:
    """Asterisk's replies to an async Originate whose first leg (the desk phone) answered."""
    action_id = action.get("actionid", "")
    logger.info(
        "Simulated PBX: %s answers, then would call %s (nothing is dialled)",
        action.get("channel", "?")[:40],
        mask(action.get("callerid", "").rpartition("<")[2].rstrip(">")),
    )
    return [
        frame(Response="Success", ActionID=action_id, Message="Originate successfully queued"),
        frame(
            Event="OriginateResponse",
            Privilege="call,all",
            ActionID=action_id,
            Response="Success",
            Channel=action.get("channel", ""),
            Context=action.get("context", ""),
            Exten=action.get("exten", ""),
            Reason="4",  # AST_CONTROL_ANSWER
            Uniqueid=action.get("channelid", ""),
            CallerIDNum="<unknown>",
            CallerIDName="<unknown>",
        ),
    ]
