"""FastAGI server: ``callback-desk agi serve`` (default 127.0.0.1:4573).

Each connection runs the same blocking session as classic AGI (:func:`agi.session.run_session`)
in a worker thread, reading and writing the socket through small file-like views that hop onto
the event loop. FastAGI has no SIGHUP: Asterisk writes a bare ``HANGUP`` line instead, which
:class:`agi.channel.SafeAGI` turns into the same hang-up flag. Bind to localhost (or a private
address): FastAGI has no authentication.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from zoneinfo import ZoneInfo

from agi.config import AgiSettings, load
from agi.queries import Callbacks
from agi.runtime import open_callbacks
from agi.session import run_session
from callback_desk.core.config import Settings
from callback_desk.core.exceptions import ListenError, os_reason

logger = logging.getLogger(__name__)

_MAX_LINE = 64 * 1024


class StreamLines:
    """A blocking ``readline()`` over an asyncio StreamReader, for a worker thread."""

    def __init__(self, reader: asyncio.StreamReader, loop: asyncio.AbstractEventLoop) -> None:
        self._reader = reader
        self._loop = loop

    def readline(self) -> str:
        future = asyncio.run_coroutine_threadsafe(self._reader.readline(), self._loop)
        try:
            data = future.result()
        except (ConnectionError, ValueError, concurrent.futures.CancelledError):
            return ""  # end of input: SafeAGI turns it into ChannelGone
        return data[:_MAX_LINE].decode("utf-8", errors="replace")


class StreamOut:
    """A blocking ``write()``/``flush()`` over an asyncio StreamWriter, for a worker thread."""

    def __init__(self, writer: asyncio.StreamWriter, loop: asyncio.AbstractEventLoop) -> None:
        self._writer = writer
        self._loop = loop

    def write(self, text: str) -> int:
        if self._writer.is_closing():
            raise ConnectionResetError("the FastAGI connection is closed")
        self._loop.call_soon_threadsafe(self._writer.write, text.encode("utf-8"))
        return len(text)

    def flush(self) -> None:
        future = asyncio.run_coroutine_threadsafe(self._writer.drain(), self._loop)
        try:
            future.result(30)
        except concurrent.futures.CancelledError as exc:
            raise ConnectionResetError("the FastAGI server is stopping") from exc
        except TimeoutError as exc:
            raise ConnectionResetError("Asterisk stopped reading") from exc


class FastAgiServer:
    def __init__(
        self, callbacks: Callbacks, cfg: AgiSettings, tz: ZoneInfo, host: str, port: int
    ) -> None:
        self._callbacks = callbacks
        self._cfg = cfg
        self._tz = tz
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=cfg.max_sessions, thread_name_prefix="fastagi"
        )
        self._slots = asyncio.Semaphore(cfg.max_sessions)
        self._sessions: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> None:
        try:
            self._server = await asyncio.start_server(self._serve, self._host, self._port)
        except OSError as exc:  # port taken, address not on this host, name unresolvable
            # from None: the reason is in the message, asyncio's wording of it would repeat it.
            raise ListenError(
                f"FastAGI cannot listen on {self._host}:{self._port}: {os_reason(exc)}"
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]
        logger.info(
            "FastAGI listening on %s:%d", self._host, self.port, extra={"action": "agi_listen"}
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        # Closing the sockets ends every session at its next read (ChannelGone).
        for writer in list(self._writers):
            writer.close()
        await asyncio.gather(*self._sessions, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        self._executor.shutdown(wait=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        self._writers.add(writer)
        loop = asyncio.get_running_loop()
        try:
            if self._slots.locked():
                logger.warning("All %d FastAGI sessions busy; queueing", self._cfg.max_sessions)
            async with self._slots:
                status = await run_session(
                    StreamLines(reader, loop),  # type: ignore[arg-type]
                    StreamOut(writer, loop),  # type: ignore[arg-type]
                    threading.Event(),
                    self._callbacks,
                    self._cfg,
                    self._tz,
                    lambda: datetime.now(self._tz),
                    self._executor,
                )
            logger.info("FastAGI session ended: %s", status, extra={"action": "agi_session"})
        finally:
            self._writers.discard(writer)
            self._sessions.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def serve(settings: Settings, host: str | None = None, port: int | None = None) -> int:
    """Run until SIGTERM/SIGINT."""
    cfg = load(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with open_callbacks(settings, cfg, max_size=min(cfg.max_sessions, 8)) as callbacks:
        server = FastAgiServer(
            callbacks,
            cfg,
            settings.pbx.timezone,
            host or cfg.listen_host,
            port if port is not None else cfg.listen_port,
        )
        await server.start()
        try:
            await stop.wait()
        finally:
            await server.close()
    return 0
