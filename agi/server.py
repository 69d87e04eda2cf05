"""FastAGI server: ``callback-desk agi serve`` (default 127.0.0.1:4573).

Who may talk to it: FastAGI itself has no authentication, and any local process can connect to
127.0.0.1:4573 and pose as Asterisk (have waiting callers' numbers read out, fake an answered
callback, mark callers "never"). So every connection must present the per-install secret
(``[agi] secret_file``) as the AGI URL's path, ``agi://127.0.0.1:4573/<secret>``, which
Asterisk sends as ``agi_network_script``. It is compared in constant time; a connection
without it gets no command at all and is logged (``agi_refused_peer``, arguments masked).

Holding out: a connection has ``env_timeout`` seconds to send its environment and
``reply_timeout`` to answer each command (a Dial gets the call's length); at most
``max_waiting`` connections may be unauthenticated at once (the oldest is shed first, so a flood
cannot keep Asterisk out) and at most ``max_waiting`` authenticated ones may queue for one of
the ``max_sessions`` slots (more are refused). Every shed connection is logged (``agi_shed``).

Speed: every session is a coroutine on the one event loop (:mod:`agi.fastagi` says why not
pyst2 in a thread), its database calls go straight to the asyncpg pool, and a menu waiting for
a key costs a socket and a coroutine, so ``max_sessions`` can cover every desk of an office.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import pwd
import signal
import socket
from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from agi.config import AgiSettings, load, read_secret
from agi.fastagi import CALL_LIMIT, FastAgiChannel
from agi.handlers import Desk
from agi.runtime import TimedDesk, open_callbacks
from agi.session import run_session
from callback_desk.core.config import Secret, Settings
from callback_desk.core.exceptions import ConfigError, ListenError, os_reason
from callback_desk.core.phone import mask

logger = logging.getLogger(__name__)

# What Asterisk sends that holds the secret; kept out of the session's environment.
_SECRET_KEYS = ("agi_network_script", "agi_request")


def authentic(env: Mapping[str, str], secret: Secret) -> bool:
    """The AGI URL's path is the secret. Digests first, so that the comparison takes the same
    time whatever the length of what the peer sent."""
    presented = env.get("agi_network_script", "").encode("utf-8", "replace")
    expected = secret.reveal().encode("ascii")
    return hmac.compare_digest(
        hashlib.sha256(presented).digest(), hashlib.sha256(expected).digest()
    )


def peer_uid(conn: socket.socket) -> int | None:
    """The uid owning the other end of a TCP connection on this host, from the kernel's socket
    table (the peer's row has our address as its remote end); None when not found."""
    peer, local = conn.getpeername(), conn.getsockname()
    table = "/proc/net/tcp6" if conn.family == socket.AF_INET6 else "/proc/net/tcp"
    want = (_proc_address(conn.family, peer[0], peer[1]), _proc_address(conn.family, *local[:2]))
    try:
        with open(table, encoding="ascii") as rows:
            for row in rows:
                fields = row.split()
                if len(fields) > 7 and (fields[1], fields[2]) == want:
                    return int(fields[7])
    except (OSError, ValueError):
        return None
    return None


def _proc_address(family: int, host: str, port: int) -> str:
    """An address as /proc/net/tcp* writes it: each 32-bit word in host byte order, in hex."""
    packed = socket.inet_pton(family, host)
    words = b"".join(packed[i : i + 4][::-1] for i in range(0, len(packed), 4))
    return f"{words.hex().upper()}:{port:04X}"


def describe(env: Mapping[str, str]) -> str:
    """A refused request for the log: its mode and masked arguments, never the secret tried."""
    args = [env.get(f"agi_arg_{i}", "") for i in range(1, 4)]
    mode = args[0] if args[0] in ("menu", "dial") else "?"
    return f"mode {mode}, arguments {', '.join(mask(a) for a in args[1:] if a) or 'none'}"


def _uid(user: str) -> int:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise ConfigError(f"[agi] peer_user = {user!r} is not a user on this host") from None


class FastAgiServer:
    def __init__(
        self,
        callbacks: Desk,
        cfg: AgiSettings,
        tz: ZoneInfo,
        host: str,
        port: int,
        secret: Secret | None = None,
    ) -> None:
        # No secret, no server: the easy way must be the safe way.
        self._secret = secret if secret is not None else read_secret(cfg)
        if not self._secret.reveal():
            raise ConfigError("the FastAGI secret is empty")
        self._peer_uid = _uid(cfg.peer_user) if cfg.peer_user else None
        self._desk = TimedDesk(callbacks, cfg.db_timeout)
        self._cfg = cfg
        self._tz = tz
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._slots = asyncio.Semaphore(cfg.max_sessions)
        self._queued = 0
        # Connections that have not sent their environment yet, oldest first (with the timer
        # that ends them after env_timeout).
        self._unproven: dict[FastAgiChannel, asyncio.TimerHandle] = {}
        self._channels: set[FastAgiChannel] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        try:
            listener = socket.create_server((self._host, self._port), backlog=512)
        except OSError as exc:  # port taken, address not on this host, name unresolvable
            # from None: the reason is in the message, the socket's wording of it would repeat it.
            raise ListenError(
                f"FastAGI cannot listen on {self._host}:{self._port}: {os_reason(exc)}"
            ) from None
        self.port = listener.getsockname()[1]
        loop = asyncio.get_running_loop()
        call_timeout = self._cfg.dial_timeout + CALL_LIMIT
        self._server = await loop.create_server(
            lambda: FastAgiChannel(
                self._environment,
                self._connected,
                self._cfg.reply_timeout,
                call_timeout,
                self._lost,
            ),
            sock=listener,
        )
        logger.info(
            "FastAGI listening on %s:%d", self._host, self.port, extra={"action": "agi_listen"}
        )

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        # Closing the connections ends every session at its next command (ChannelGone).
        for channel in list(self._channels):
            channel.close()
        for timer in self._unproven.values():
            timer.cancel()
        self._unproven.clear()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    # -- before the environment ------------------------------------------------------------
    def _connected(self, channel: FastAgiChannel) -> None:
        if len(self._unproven) >= self._cfg.max_waiting:
            oldest = next(iter(self._unproven))
            logger.warning(
                "FastAGI: %d connections have not sent an AGI environment; shedding the oldest",
                len(self._unproven),
                extra={"action": "agi_shed"},
            )
            self._forget(oldest)
            self._drop(oldest)
        loop = asyncio.get_running_loop()
        self._unproven[channel] = loop.call_later(
            self._cfg.env_timeout, self._env_timed_out, channel
        )
        self._channels.add(channel)

    def _lost(self, channel: FastAgiChannel) -> None:
        """The peer closed (or the connection was closed here): nothing of it is kept."""
        if channel in self._unproven and not channel.has_env:
            logger.warning(
                "Refused a FastAGI connection: closed before the AGI environment ended",
                extra={"action": "agi_refused_peer"},
            )
        self._forget(channel)
        self._channels.discard(channel)

    def _forget(self, channel: FastAgiChannel) -> None:
        timer = self._unproven.pop(channel, None)
        if timer is not None:
            timer.cancel()

    def _env_timed_out(self, channel: FastAgiChannel) -> None:
        self._unproven.pop(channel, None)
        self._channels.discard(channel)
        channel.refuse(f"no AGI environment within {self._cfg.env_timeout:g}s")

    def _environment(self, channel: FastAgiChannel, env: dict[str, str]) -> None:
        self._forget(channel)
        if self._peer_uid is not None and peer_uid(channel.socket()) != self._peer_uid:
            logger.warning(
                "Refused a FastAGI request from a process not run by %s (%s)",
                self._cfg.peer_user,
                describe(env),
                extra={"action": "agi_refused_peer"},
            )
            self._drop(channel)
            return
        if not authentic(env, self._secret):
            logger.warning(
                "Refused a FastAGI request without the right secret (%s)",
                describe(env),
                extra={"action": "agi_refused_peer"},
            )
            self._drop(channel)
            return
        for key in _SECRET_KEYS:
            env.pop(key, None)
        task = asyncio.get_running_loop().create_task(self._session(channel))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _drop(self, channel: FastAgiChannel) -> None:
        self._channels.discard(channel)
        channel.close()

    # -- the session -----------------------------------------------------------------------
    async def _session(self, channel: FastAgiChannel) -> None:
        try:
            if self._slots.locked():
                if self._queued >= self._cfg.max_waiting:
                    logger.warning(
                        "FastAGI: all %d sessions busy and %d queued; refusing a session",
                        self._cfg.max_sessions,
                        self._queued,
                        extra={"action": "agi_shed"},
                    )
                    return
                logger.warning("All %d FastAGI sessions busy; queueing", self._cfg.max_sessions)
            self._queued += 1
            try:
                await self._slots.acquire()
            finally:
                self._queued -= 1
            try:
                status = await run_session(
                    channel, self._desk, self._cfg, self._tz, lambda: datetime.now(self._tz)
                )
                logger.info("FastAGI session ended: %s", status, extra={"action": "agi_session"})
            finally:
                self._slots.release()
        finally:
            self._drop(channel)


async def serve(settings: Settings, host: str | None = None, port: int | None = None) -> int:
    """Run until SIGTERM/SIGINT."""
    cfg = load(settings)
    secret = read_secret(cfg)  # before anything starts: a missing secret is exit 2
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
            secret,
        )
        await server.start()
        try:
            await stop.wait()
        finally:
            await server.close()
    return 0
