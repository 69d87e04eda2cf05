"""Single-use sign-in links: issued for the morning email, spent by the sign-in views."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from callback_desk.core.config import Settings
from callback_desk.core.store import Store
from callback_desk.web.auth import Tokens, new_id
from callback_desk.web.settings import load as load_web
from callback_desk.web.store import WebStore


async def sign_in_link(store: Store, settings: Settings, address: str) -> str | None:
    """The morning email's single-use link for the inbox user with this address; None when there
    is no inbox, no such enabled therapist or front-desk user, or the user is an admin (admins
    sign in with their password). The database records the link before it is signed, and
    decides whom it is for (issue_sign_in_link(), sql/0008_least_privilege.sql)."""
    ws = load_web(settings)
    if ws.secret is None:
        return None  # no inbox configured
    jti = new_id()
    expires = time.time() + ws.link_hours * 3600
    user_id = await WebStore(store.pool).issue_link(
        address, jti, datetime.fromtimestamp(expires, UTC)
    )
    if user_id is None:
        return None
    token = Tokens(ws.secret).sign("sign-in-link", {"u": user_id, "j": jti}, expires)
    return f"{ws.public_url}/link/{token}"
