"""Single-use sign-in links: issued for the morning email, spent by the sign-in views."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from callback_desk.core.config import Settings
from callback_desk.core.store import Store
from callback_desk.web.auth import Tokens, new_id
from callback_desk.web.settings import WebSettings
from callback_desk.web.settings import load as load_web
from callback_desk.web.store import WebStore


def issue_sign_in_link(
    tokens: Tokens, ws: WebSettings, user_id: int, now: float
) -> tuple[str, str, datetime]:
    """(url, link id, expiry) for a single-use sign-in link; the caller records the id."""
    jti = new_id()
    expires = now + ws.link_hours * 3600
    token = tokens.sign("sign-in-link", {"u": user_id, "j": jti}, expires)
    return f"{ws.public_url}/link/{token}", jti, datetime.fromtimestamp(expires, UTC)


async def sign_in_link(store: Store, settings: Settings, address: str) -> str | None:
    """The morning email's link for the user with this address (None: no such user, or no web)."""
    ws = load_web(settings)
    if ws.secret is None:
        return None  # no inbox configured
    users = WebStore(store.pool)
    user = await users.user_by_email(address)
    if user is None:
        return None
    url, jti, expires = issue_sign_in_link(Tokens(ws.secret), ws, user.id, time.time())
    await users.issue_link(jti, user.id, expires)
    return url
