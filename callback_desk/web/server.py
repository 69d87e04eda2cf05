"""``callback-desk web``: the inbox on uvicorn, behind the practice's TLS proxy.

uvicorn's own access log is off (it would write raw paths); :class:`callback_desk.web.app.Guard`
writes one line per request with the route's template instead. Forwarded headers are believed
only from ``[web] trusted_proxies``, so the sign-in limit counts real client addresses.
"""

from __future__ import annotations

import logging

import uvicorn

from callback_desk.core.config import Settings
from callback_desk.core.store import Store
from callback_desk.web.app import create_app
from callback_desk.web.settings import load

logger = logging.getLogger(__name__)


def server(app: object, host: str, port: int, trusted: tuple[str, ...]) -> uvicorn.Server:
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        proxy_headers=True,
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
    store = await Store.open(settings.database, max_size=8)
    try:
        await store.check_schema()
        app = create_app(settings, store)
        where_host, where_port = host or ws.host, port or ws.port
        logger.info(
            "Callback inbox on http://%s:%d (public address %s)",
            where_host,
            where_port,
            ws.public_url,
            extra={"action": "web_start"},
        )
        await server(app, where_host, where_port, ws.trusted_proxies).serve()
    finally:
        await store.close()
    return 0
