"""The one AMI client: connection (TCP or TLS), login, reconnect and the Ping watchdog.

Used by the listener (``connect()``: a long-running link that reconnects with backoff) and by
click-to-call (``open()``: one login, one action, close; a failure is reported, not retried).
The wire format lives in :mod:`callback_desk.core.amiframe` (pure); this module owns the socket.

Why our own and not panoramisk's Manager: panoramisk decodes each TCP read on its own (a
character split across reads vanished), re-splits its whole buffer on every read (a frame
without an end blocked the loop quadratically: 8 MiB took 6.5 s), pings without checking the
answers, reconnects every 2 s forever, re-sends actions after a reconnect and logs an action
it could not encode, secret included, at ERROR. Here:

- frames are bounded (``amiframe.MAX_FRAME``) and cut in linear time; a peer that breaks the
  framing is dropped with one log line;
- every action value is checked before it is written (no CR/LF injection, nothing that cannot
  be encoded) and errors name the header, never the value;
- the watchdog sends Ping and drops the link when no answer comes within ``ping_interval``;
- reconnects back off exponentially up to ``reconnect_max``; a refused login is logged as the
  configuration mistake it is;
- events the listener reads take a fast path: one dict per frame, handed to a synchronous
  sink, or the frames' text itself (``frames_sink``: those of one read together, as they
  arrived together), parsed by the reader when it gets to it; frames nobody reads are dropped
  unparsed (on a PBX most frames are noise).

Replies are dicts with lower-case keys (``parse_frame``); an action answered by a list (an
``EventList``, an async ``Originate``) returns the response followed by its events.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import ssl
from collections.abc import Callable, Mapping
from typing import Any

from callback_desk.core.amiframe import (
    ActionValue,
    Frame,
    FrameBuffer,
    encode_action,
    parse_frame,
)
from callback_desk.core.config import AmiSettings
from callback_desk.core.exceptions import (
    AmiError,
    AmiFramingError,
    AmiLoginRefused,
    AmiUnavailable,
    ConfigError,
    os_reason,
)

__all__ = ["AmiClient", "EventSink", "Frame", "FramesSink", "parse_frame", "tls_context"]

logger = logging.getLogger(__name__)

EventSink = Callable[[Frame], None]
FramesSink = Callable[[list[str]], None]
EventCallback = Callable[["AmiClient", Frame], None]
Reply = Frame | list[Frame]

# How long connecting (TCP + TLS handshake + banner) and the login may each take.
CONNECT_TIMEOUT = 10.0
# Distinct event names remembered (AmiClient._names); Asterisk 22 has about 170.
_MAX_NAMES = 1024
_client_ids = itertools.count(1)


def tls_context(ami: AmiSettings) -> ssl.SSLContext | None:
    """The TLS context for ``[ami] tls = true``: certificate and host name always verified."""
    if not ami.tls:
        return None
    try:
        context = ssl.create_default_context(
            cafile=str(ami.ca_file) if ami.ca_file is not None else None
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"[ami] ca_file = '{ami.ca_file}' is not a usable CA file ({exc})"
        ) from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class _Pending:
    """One action waiting for its reply; knows when a list reply is complete."""

    def __init__(self, name: str, is_async: bool) -> None:
        self.future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self.frames: list[Frame] = []
        self._originate = name == "originate" and is_async
        self._until: str | None = None

    def add(self, headers: Frame) -> None:
        if self.future.done():
            return
        self.frames.append(headers)
        if len(self.frames) == 1:
            message = headers.get("message", "").lower()
            if headers.get("response", "").lower() != "success":
                self.future.set_result(headers)
            elif headers.get("eventlist", "").lower() == "start" or "will follow" in message:
                self._until = "list"
            elif self._originate and message.endswith("successfully queued"):
                self._until = "originate"
            else:
                self.future.set_result(headers)
            return
        event = headers.get("event", "").lower()
        if self._until == "list" and (
            headers.get("eventlist", "").lower() == "complete" or event.endswith("complete")
        ):
            self.future.set_result(self.frames)
        elif self._until == "originate" and event == "originateresponse":
            self.future.set_result(self.frames)


class _Protocol(asyncio.Protocol):
    def __init__(self, client: AmiClient) -> None:
        self._client = client
        self._frames = FrameBuffer()
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.greeted: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            frames = self._frames.feed(data)
        except AmiFramingError as exc:
            self._client._framing_error(exc)
            self.abort()
            return
        if self._frames.banner is not None and not self.greeted.done():
            self.greeted.set_result(None)
        client = self._client
        for frame in frames:
            client._route(frame)
        client._hand_over()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.greeted.done():
            self.greeted.set_exception(ConnectionError("closed before the AMI banner"))
        if not self.lost.done():
            self.lost.set_result(None)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class AmiClient:
    """One AMI account on one PBX: see the module docstring."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        ping_interval: float = 10.0,
        reconnect_max: float = 60.0,
        on_state: Callable[[str], None] | None = None,
        event_sink: EventSink | None = None,
        fast_events: frozenset[str] = frozenset(),
        tls: ssl.SSLContext | None = None,
        server_name: str | None = None,
        events: str = "on",
    ) -> None:
        # Refused here, before any connection: a secret that cannot be sent must not get as far
        # as a socket or a log line. The error names the field only.
        try:
            encode_action({"Username": username, "Secret": secret, "Events": events})
        except AmiError as exc:
            raise ConfigError(f"[ami] credentials: {exc}") from None
        self._host = host
        self._port = port
        self._username = username
        self._secret = secret
        self._events = events
        self._tls = tls
        self._server_name = (server_name or host) if tls is not None else None
        self._ping_interval = ping_interval
        self._reconnect_max = reconnect_max
        self._on_state = on_state or (lambda state: None)
        self.event_sink: EventSink = event_sink or (lambda headers: None)
        # When set, fast events go here as their text instead of to event_sink, the frames of
        # one read in one call: a reader that queues them holds a string per frame rather than
        # a dict of its headers (a third of the memory), and parses each one when it needs it
        # (parse_frame).
        self.frames_sink: FramesSink | None = None
        self._fast_frames: list[str] = []
        # Event names as they come (Asterisk's spelling) -> lower case, for the few names a
        # PBX sends: a lookup instead of strip() and lower() per frame. Bounded: the names
        # come from the peer.
        self._names: dict[str, str] = {}
        # Lower-case names of the events delivered to event_sink.
        self.fast_events = frozenset(name.lower() for name in fast_events)
        # Lower-case event name -> text its raw frame must contain to reach event_sink: a
        # cheap pre-filter for the loudest events (VarSet), checked before a frame is parsed.
        self.fast_filters: dict[str, str] = {}
        self._callbacks: dict[str, list[EventCallback]] = {}
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._prefix = f"cbd{next(_client_ids)}"
        self._protocol: _Protocol | None = None
        self._runner: asyncio.Task[None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()
        self._attempt = 0
        self.logged_in = asyncio.Event()
        self.version: str | None = None

    @classmethod
    def for_settings(
        cls,
        ami: AmiSettings,
        *,
        username: str | None = None,
        secret: str | None = None,
        **kwargs: Any,
    ) -> AmiClient:
        """A client for ``[ami]``; ``username``/``secret`` override the account (click-to-call)."""
        return cls(
            host=ami.host,
            port=ami.port,
            username=ami.username if username is None else username,
            secret=ami.require_secret().reveal() if secret is None else secret,
            ping_interval=ami.ping_interval,
            reconnect_max=ami.reconnect_max,
            tls=tls_context(ami),
            server_name=ami.server_name or None,
            **kwargs,
        )

    @property
    def where(self) -> str:
        return f"{self._host}:{self._port}{' (TLS)' if self._tls is not None else ''}"

    def register_event(self, name: str, callback: EventCallback) -> None:
        """Call ``callback(client, headers)`` for every event ``name`` (not for fast events)."""
        self._callbacks.setdefault(name.lower(), []).append(callback)

    # -- the two ways to use it ----------------------------------------------------------------

    def connect(self) -> asyncio.Task[None]:
        """Stay connected until :meth:`aclose`: log in, watch, and reconnect with backoff."""
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="ami-client")
            self._runner.add_done_callback(self._runner_done)
        return self._runner

    async def open(self) -> None:
        """Connect and log in once; raises :class:`AmiUnavailable` or :class:`AmiLoginRefused`."""
        await self._login(await self._open_connection())

    async def send_action(
        self, action: Mapping[str, ActionValue], *, timeout: float | None = None
    ) -> Reply:
        """Send ``action`` and wait for its reply (a list for list replies, see module doc).

        Raises :class:`AmiError` for an unsafe value (before anything is written) and
        :class:`AmiUnavailable` when not connected, when the link drops or after ``timeout``.
        """
        name = str(action.get("Action", "")).lower()
        action_id = f"{self._prefix}.{next(self._ids)}"
        data = encode_action({**action, "ActionID": action_id})
        protocol = self._protocol
        if protocol is None or protocol.transport is None or protocol.lost.done():
            raise AmiUnavailable(f"not connected to AMI at {self.where}")
        pending = _Pending(name, str(action.get("Async", "")).lower() in ("true", "yes", "1"))
        self._pending[action_id] = pending
        try:
            protocol.transport.write(data)
            async with asyncio.timeout(timeout):
                return await pending.future
        except TimeoutError:
            raise AmiUnavailable(
                f"AMI at {self.where} did not answer {action.get('Action')} within {timeout:g} s"
            ) from None
        finally:
            self._pending.pop(action_id, None)

    def pause_reading(self, paused: bool) -> bool:
        """Back-pressure: stop (or resume) reading the socket, so that a burst waits in the
        kernel's buffers rather than in the reader's memory. Returns whether reading is now
        paused (a new connection always reads). Keep pauses short: Ping replies wait too."""
        protocol = self._protocol
        transport = protocol.transport if protocol is not None else None
        if transport is None or transport.is_closing():
            return False
        if paused:
            transport.pause_reading()
        else:
            transport.resume_reading()
        return paused

    async def aclose(self) -> None:
        self._closing.set()
        for task in (self._watchdog, self._runner):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._drop()

    # -- connection ----------------------------------------------------------------------------

    async def _open_connection(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                _transport, protocol = await loop.create_connection(
                    lambda: _Protocol(self),
                    self._host,
                    self._port,
                    ssl=self._tls,
                    server_hostname=self._server_name,
                )
                self._protocol = protocol
                await protocol.greeted
        except ssl.SSLCertVerificationError as exc:
            self._drop()
            raise AmiUnavailable(
                f"cannot reach AMI at {self.where}: its TLS certificate is not trusted "
                f"({exc.verify_message}); check [ami] ca_file and server_name"
            ) from exc
        except OSError as exc:
            self._drop()
            raise AmiUnavailable(f"cannot reach AMI at {self.where}: {os_reason(exc)}") from exc
        except TimeoutError as exc:
            self._drop()
            raise AmiUnavailable(
                f"cannot reach AMI at {self.where}: no answer within {CONNECT_TIMEOUT:g} s"
            ) from exc
        self.version = protocol._frames.banner
        return protocol

    async def _login(self, protocol: _Protocol) -> None:
        try:
            reply = await self.send_action(
                {
                    "Action": "Login",
                    "Username": self._username,
                    "Secret": self._secret,
                    "Events": self._events,
                },
                timeout=CONNECT_TIMEOUT,
            )
        except AmiError:
            self._drop()
            raise
        first = reply[0] if isinstance(reply, list) else reply
        if first.get("response", "").lower() != "success":
            self._drop()
            raise AmiLoginRefused(
                f"AMI at {self.where} refused the login of {self._username!r} "
                "(check the username/secret and manager.conf)"
            )

    def _drop(self) -> None:
        protocol, self._protocol = self._protocol, None
        self.logged_in.clear()
        if protocol is not None:
            protocol.abort()
        for pending in list(self._pending.values()):
            if not pending.future.done():
                pending.future.set_exception(AmiUnavailable(f"AMI link to {self.where} lost"))
        self._pending.clear()

    async def _run(self) -> None:
        while not self._closing.is_set():
            if self._attempt:
                logger.info(
                    "Connecting to AMI %s (attempt %d)",
                    self.where,
                    self._attempt + 1,
                    extra={"action": "ami_reconnect"},
                )
            try:
                protocol = await self._open_connection()
                await self._login(protocol)
            except AmiLoginRefused as exc:
                logger.error("%s", exc, extra={"action": "ami_login_refused"})
                self._on_state("login_refused")
            except AmiUnavailable as exc:
                logger.error(
                    "%s; retrying in %.0f s",
                    str(exc)[0].upper() + str(exc)[1:],
                    self._backoff(self._attempt + 1),
                    extra={"action": "ami_unreachable"},
                )
                self._on_state("unreachable")
            else:
                await self._session(protocol)
            if self._closing.is_set():
                return
            self._attempt += 1
            await asyncio.sleep(self._backoff(self._attempt))

    def _backoff(self, attempt: int) -> float:
        return min(self._reconnect_max, 2.0 ** min(attempt, 16) / 2)

    async def _session(self, protocol: _Protocol) -> None:
        logger.info("Logged in to AMI %s", self.where, extra={"action": "ami_login"})
        self._attempt = 0
        self.logged_in.set()
        self._on_state("connected")
        self._watchdog = asyncio.create_task(self._watch(protocol), name="ami-watchdog")
        try:
            await protocol.lost
        finally:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._drop()
        if not self._closing.is_set():
            logger.warning(
                "AMI connection to %s lost", self.where, extra={"action": "ami_disconnect"}
            )
            self._on_state("disconnected")

    async def _watch(self, protocol: _Protocol) -> None:
        while not protocol.lost.done():
            await asyncio.sleep(self._ping_interval)
            try:
                await self.send_action({"Action": "Ping"}, timeout=self._ping_interval)
            except AmiUnavailable:
                if protocol.lost.done():
                    return
                logger.warning(
                    "AMI did not answer Ping within %.0f s; reconnecting",
                    self._ping_interval,
                    extra={"action": "ami_ping_timeout"},
                )
                protocol.abort()
                return

    def _runner_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "AMI client stopped: %s",
                task.exception(),
                extra={"action": "ami_client_failed"},
            )
            self._on_state("failed")

    # -- incoming frames -----------------------------------------------------------------------

    def _framing_error(self, exc: AmiFramingError) -> None:
        logger.error("AMI %s: %s", self.where, exc, extra={"action": "ami_framing_error"})

    def _hand_over(self) -> None:
        """The fast frames of one read to ``frames_sink``, in the order they came."""
        if self._fast_frames and self.frames_sink is not None:
            frames, self._fast_frames = self._fast_frames, []
            self.frames_sink(frames)

    def _route(self, frame: str) -> None:
        if frame.startswith("Event: "):
            if self._pending and "\r\nActionID: " in frame:
                headers = parse_frame(frame)
                pending = self._pending.get(headers.get("actionid", ""))
                if pending is not None:
                    pending.add(headers)
                    return
            end = frame.find("\r\n")
            raw = frame[7:end] if end >= 0 else frame[7:]
            name = self._names.get(raw)
            if name is None:
                name = raw.strip().lower()
                if len(self._names) < _MAX_NAMES:
                    self._names[raw] = name
            if name in self.fast_events:
                needle = self.fast_filters.get(name)
                if needle is None or needle in frame:
                    if self.frames_sink is not None:
                        self._fast_frames.append(frame)
                    else:
                        self.event_sink(parse_frame(frame))
            callbacks = self._callbacks.get(name)
            if callbacks:
                headers = parse_frame(frame)
                for callback in callbacks:
                    callback(self, headers)
            return
        headers = parse_frame(frame)
        pending = self._pending.get(headers.get("actionid", ""))
        if pending is not None:
            pending.add(headers)
