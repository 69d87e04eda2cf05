"""``callback-desk web``: the inbox on uvicorn, behind the practice's TLS proxy.

uvicorn's own access log is off (it would write raw paths);
:class:`callback_desk.web.middleware.Guard` writes one line per request with the route's template
instead. Forwarded headers are believed
only from ``[web] trusted_proxies`` (none by default), so the sign-in limit counts real client
addresses.
"""

from __future__ import annotations

import logging
import socket

import uvicorn

from callback_desk.core.config import Settings
from callback_desk.core.exceptions import ListenError, os_reason
from callback_desk.core.store import Store
from callback_desk.web.app import create_app
from callback_desk.web.settings import load

logger = logging.getLogger(__name__)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound here: uvicorn reports a port in use as a log line and a
    stray exit code 3; this says what and where, one line, exit 1."""
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
        except OSError:
            sock.close()
            raise
    except OSError as exc:
        raise ListenError(f"the inbox cannot listen on {host}:{port}: {os_reason(exc)}") from None
    return sock


def server(app: object, host: str, port: int, trusted: tuple[str, ...]) -> uvicorn.Server:
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        # No trusted proxy: the forwarded headers are not even read (and uvicorn's own default,
        # 127.0.0.1 or $FORWARDED_ALLOW_IPS, never applies).
        proxy_headers=bool(trusted),
        forwarded_allow_ips=list(trusted),
        access_log=False,
        log_config=None,
        server_header=False,
        # Event streams never end by themselves: give them this long, then close them.
        timeout_graceful_shutdown=3,
        lifespan="on",
    )
    return uvicorn.Server(config)


async def serve(settings: Settings, host: str | None, port: int | None) -> int:
    ws = load(settings)
    ws.require_secret()
    # Stateless: the inbox's statements leave no session state on a pooled connection (its
    # LISTEN has a connection of its own, callback_desk.web.live; its locks are transaction
    # locks), so a connection going back to the pool skips asyncpg's reset query: a round trip
    # after every statement, three on each page.
    store = await Store.open(settings.database, max_size=8, stateless=True)
    try:
        await store.check_schema()
        app = create_app(settings, store)
        where_host = host or ws.host
        where_port = port if port is not None else ws.port
        sock = bind(where_host, where_port)
        logger.info(
            "Callback inbox on http://%s:%d (public address %s)",
            where_host,
            sock.getsockname()[1],
            ws.public_url,
            extra={"action": "web_start"},
        )
        await server(app, where_host, where_port, ws.trusted_proxies).serve(sockets=[sock])
    finally:
        await store.close()
    return 0
