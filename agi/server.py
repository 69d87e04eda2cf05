"""FastAGI server: ``callback-desk agi serve`` (default 127.0.0.1:4573).

Who may talk to it: FastAGI itself has no authentication, and any local process can connect to
127.0.0.1:4573 and pose as Asterisk (have waiting callers' numbers read out, fake an answered
callback, mark callers "never"). So every connection must present the per-install secret
(``[agi] secret_file``) as the AGI URL's path, ``agi://127.0.0.1:4573/<secret>``, which
Asterisk sends as ``agi_network_script``. It is compared in constant time; a connection
without it gets no command at all and is logged (``agi_refused_peer``).

Holding out: a connection has ``env_timeout`` seconds to send its environment and
``reply_timeout`` to answer each command (a Dial gets the call's length); at most
``max_waiting`` connections may be unauthenticated at once (the oldest is shed first, so a flood
cannot keep Asterisk out) and at most ``max_waiting`` authenticated ones may queue for one of
the ``max_sessions`` slots (more are refused). Every shed connection is logged (``agi_shed``).

Speed: the environment is read and checked on the event loop; the session then runs in a worker
thread that reads and writes the socket itself (no hop through the loop per command — that
cost ~200 µs a command with 16 sessions). Only database calls hop onto the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import logging
import pwd
import signal
import socket
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from zoneinfo import ZoneInfo

from agi.config import AgiSettings, load, read_secret
from agi.queries import Callbacks
from agi.runtime import open_callbacks
from agi.session import run_session
from callback_desk.core.config import Secret, Settings
from callback_desk.core.exceptions import ConfigError, ListenError, os_reason
from callback_desk.core.phone import mask

logger = logging.getLogger(__name__)

_MAX_LINE = 64 * 1024
_MAX_ENV = 16 * 1024
# The longest call a callback may be (a Dial's reply comes when the call ends).
CALL_LIMIT = 4 * 3600.0
# What Asterisk sends that holds the secret; kept out of the session's environment.
_SECRET_KEYS = ("agi_network_script", "agi_request")


def parse_env(block: bytes) -> dict[str, str]:
    env: dict[str, str] = {}
    for raw in block.decode("utf-8", "replace").split("\n"):
        key, sep, value = raw.partition(":")
        if sep and key.strip().startswith("agi_"):
            env[key.strip()] = value.strip()
    return env


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


class SocketChannel:
    """The session's side of a FastAGI connection, used from one worker thread.

    ``readline``/``write``/``flush`` as SafeAGI wants them, straight on the socket with a read
    time limit per reply (:meth:`before_reply`); a limit reached or a closed socket reads as end
    of input, which SafeAGI turns into ChannelGone.
    """

    def __init__(self, sock: socket.socket, buffered: bytes, cfg: AgiSettings) -> None:
        self._sock = sock
        self._buf = buffered
        self._out: list[str] = []
        self._reply = cfg.reply_timeout
        self._call = cfg.dial_timeout + CALL_LIMIT
        sock.settimeout(cfg.reply_timeout)

    def before_reply(self, command: str) -> None:
        self._sock.settimeout(self._call if command == "EXEC" else self._reply)

    def readline(self) -> str:
        while b"\n" not in self._buf:
            if len(self._buf) > _MAX_LINE:
                logger.warning("FastAGI reply line too long; ending the session")
                return ""
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                logger.warning(
                    "Asterisk sent no reply in time; ending the session",
                    extra={"action": "agi_reply_timeout"},
                )
                return ""
            except OSError:
                return ""
            if not data:
                return ""
            self._buf += data
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode("utf-8", "replace") + "\n"

    def write(self, text: str) -> int:
        self._out.append(text)
        return len(text)

    def flush(self) -> None:
        data, self._out = "".join(self._out).encode("utf-8"), []
        try:
            self._sock.settimeout(self._reply)
            self._sock.sendall(data)
        except TimeoutError as exc:
            raise ConnectionResetError("Asterisk stopped reading") from exc
        except OSError as exc:
            raise ConnectionResetError("the FastAGI connection is closed") from exc


def _uid(user: str) -> int:
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise ConfigError(f"[agi] peer_user = {user!r} is not a user on this host") from None


class FastAgiServer:
    def __init__(
        self,
        callbacks: Callbacks,
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
        self._callbacks = callbacks
        self._cfg = cfg
        self._tz = tz
        self._host = host
        self._port = port
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=cfg.max_sessions, thread_name_prefix="fastagi"
        )
        self._slots = asyncio.Semaphore(cfg.max_sessions)
        self._queued = 0
        # Unauthenticated connections, oldest first (dicts keep insertion order).
        self._unproven: dict[asyncio.Task[None], socket.socket] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sockets: set[socket.socket] = set()
        self.port = 0

    async def start(self) -> None:
        try:
            listener = socket.create_server((self._host, self._port), backlog=128)
        except OSError as exc:  # port taken, address not on this host, name unresolvable
            # from None: the reason is in the message, the socket's wording of it would repeat it.
            raise ListenError(
                f"FastAGI cannot listen on {self._host}:{self._port}: {os_reason(exc)}"
            ) from None
        listener.setblocking(False)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._accepting = asyncio.create_task(self._accept())
        logger.info(
            "FastAGI listening on %s:%d", self._host, self.port, extra={"action": "agi_listen"}
        )

    async def close(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accepting
        if self._listener is not None:
            self._listener.close()
        # Shutting the sockets down ends every session at its next read (ChannelGone).
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def _accept(self) -> None:
        assert self._listener is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(self._listener)
            except OSError as exc:  # EMFILE and the like: wait, do not spin
                logger.error("FastAGI cannot accept: %s", exc, extra={"action": "agi_accept"})
                await asyncio.sleep(0.5)
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if len(self._unproven) >= self._cfg.max_waiting:
                oldest = next(iter(self._unproven))
                logger.warning(
                    "FastAGI: %d connections have not sent an AGI environment; shedding the oldest",
                    len(self._unproven),
                    extra={"action": "agi_shed"},
                )
                oldest.cancel()
                self._unproven.pop(oldest, None)
            task = asyncio.create_task(self._serve(conn))
            self._unproven[task] = conn
            self._tasks.add(task)
            self._sockets.add(conn)
            # Also when the task is shed before it ever ran (its own finally never runs then).
            task.add_done_callback(functools.partial(self._finished, conn=conn))

    def _finished(self, task: asyncio.Task[None], *, conn: socket.socket) -> None:
        self._tasks.discard(task)
        self._unproven.pop(task, None)
        self._sockets.discard(conn)
        conn.close()

    async def _read_env(self, conn: socket.socket) -> bytes:
        loop = asyncio.get_running_loop()
        data = b""
        while b"\n\n" not in data:
            if len(data) > _MAX_ENV:
                raise ValueError("the AGI environment is too long")
            chunk = await loop.sock_recv(conn, 4096)
            if not chunk:
                raise ConnectionResetError("closed before the AGI environment ended")
            data += chunk
        return data

    async def _serve(self, conn: socket.socket) -> None:
        task = asyncio.current_task()
        assert task is not None
        try:
            try:
                async with asyncio.timeout(self._cfg.env_timeout):
                    data = await self._read_env(conn)
            except TimeoutError:
                logger.warning(
                    "Refused a FastAGI connection: no AGI environment within %gs",
                    self._cfg.env_timeout,
                    extra={"action": "agi_refused_peer"},
                )
                return
            except (OSError, ValueError) as exc:
                logger.warning(
                    "Refused a FastAGI connection: %s", exc, extra={"action": "agi_refused_peer"}
                )
                return
            finally:
                self._unproven.pop(task, None)
            head, _, rest = data.partition(b"\n\n")
            env = parse_env(head)
            if self._peer_uid is not None and peer_uid(conn) != self._peer_uid:
                logger.warning(
                    "Refused a FastAGI request from a process not run by %s (%s)",
                    self._cfg.peer_user,
                    describe(env),
                    extra={"action": "agi_refused_peer"},
                )
                return
            if not authentic(env, self._secret):
                logger.warning(
                    "Refused a FastAGI request without the right secret (%s)",
                    describe(env),
                    extra={"action": "agi_refused_peer"},
                )
                return
            await self._run(conn, env, rest)
        finally:
            conn.close()

    async def _run(self, conn: socket.socket, env: Mapping[str, str], rest: bytes) -> None:
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
            block = "".join(f"{k}: {v}\n" for k, v in env.items() if k not in _SECRET_KEYS)
            channel = SocketChannel(conn, block.encode() + b"\n" + rest, self._cfg)
            status = await run_session(
                channel,  # type: ignore[arg-type]
                channel,  # type: ignore[arg-type]
                threading.Event(),
                self._callbacks,
                self._cfg,
                self._tz,
                lambda: datetime.now(self._tz),
                self._executor,
                channel.before_reply,
            )
            logger.info("FastAGI session ended: %s", status, extra={"action": "agi_session"})
        finally:
            self._slots.release()


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
