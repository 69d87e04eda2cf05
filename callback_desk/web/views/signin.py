"""Signing in (password, or a single-use email link) and out."""

from __future__ import annotations

import asyncio
import logging
import math
import re

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from callback_desk.web.auth import client_key
from callback_desk.web.store import THROTTLED
from callback_desk.web.views.base import SESSION_COOKIE, Refused, Views

logger = logging.getLogger(__name__)


class SignInViews(Views):
    # -- signing in and out ----------------------------------------------------------------

    async def sign_in_page(self, request: Request) -> Response:
        return self.page(request, "sign_in.html", error="")

    async def sign_in(self, request: Request) -> Response:
        form = await self.form(request)
        username = str(form.get("username", "")).strip().lower()[:40]
        password = str(form.get("password", ""))
        client = client_key(request.client.host if request.client else "?")
        self._note_forwarding(request)
        shown = shown_name(username)
        wait = self.limit.wait(username, client)
        if wait is not None:
            seconds = math.ceil(wait.seconds)
            logger.warning(
                "Sign-in for %r from %s refused unchecked: %s %d s more",
                shown,
                client,
                "this client waits"
                if wait.reason == "client"
                else "clients that failed wait for the account",
                seconds,
                extra={"action": "web_sign_in_throttled"},
            )
            refused = self.page(
                request,
                "sign_in.html",
                status=429,
                error="Too many failed attempts from this computer. "
                f"Try again in {_spoken(seconds)}.",
            )
            refused.headers["retry-after"] = str(seconds)
            return refused
        # Counted as a failure until it is known to be right: concurrent tries see it.
        self.limit.begin(username, client)
        try:
            user = await self.users.user_by_name(username) if username else None
            stored = user.password_hash if user is not None else self._dummy_hash
            # argon2 takes ~0.3 s and 64 MiB on purpose: in a thread, so live pages keep flowing.
            verified = await asyncio.to_thread(self.passwords.verify, stored, password)
        except BaseException:
            self.limit.succeeded(username, client)  # not checked: not a failure
            raise
        ok = verified and user is not None and not user.disabled
        if not ok or user is None:
            await self._failed(username, client)
            return self.page(
                request, "sign_in.html", status=401, error="Wrong user name or password."
            )
        self.limit.succeeded(username, client)
        if self.passwords.needs_rehash(user.password_hash):
            rehashed = await asyncio.to_thread(self.passwords.hash, password)
            await self.users.rehash(user.id, rehashed)
        response = RedirectResponse("/", status_code=303)
        if not await self._start_session(request, response, user):
            return self.page(
                request, "sign_in.html", status=401, error="Wrong user name or password."
            )
        logger.info("User %s signed in", user.username, extra={"action": "web_sign_in"})
        return response

    def _note_forwarding(self, request: Request) -> None:
        """Say once that a proxy's X-Forwarded-For is ignored: behind an unlisted proxy every
        browser is the proxy's address, one tally for all (an upgrade from the old default,
        which trusted 127.0.0.1, needs [web] trusted_proxies set)."""
        # With proxies listed, uvicorn has already put the browser's address in their place.
        if (
            self._forwarding_noted
            or self.ws.trusted_proxies
            or "x-forwarded-for" not in request.headers
        ):
            return
        peer = request.client.host if request.client else "?"
        self._forwarding_noted = True
        logger.warning(
            "X-Forwarded-For from %s ignored: [web] trusted_proxies lists no proxy, so the sign-in "
            "limit counts every browser behind it as one client (if %s is your TLS proxy, list "
            "it there)",
            peer,
            peer,
            extra={"action": "web_forwarded_ignored"},
        )

    async def _failed(self, username: str, client: str) -> None:
        """A wrong password: counted; a wait it starts or lengthens is logged and audited
        (``WebStore.sign_in_throttles`` reads the audit rows back for admins)."""
        throttle = self.limit.failed(username, client)
        shown = shown_name(username)
        (client_failures, account_failures), (client_wait, account_wait) = (
            throttle.failures,
            throttle.waits,
        )
        if not (client_wait or account_wait):
            logger.warning(
                "Sign-in failed for %r from %s",
                shown,
                client,
                extra={"action": "web_sign_in_failed"},
            )
            return
        detail = (
            f"from {client}: this client waits {client_wait:.0f} s ({client_failures} failures), "
            f"clients that failed wait {account_wait:.0f} s for the account "
            f"({account_failures} failures)"
        )
        logger.warning(
            "Sign-in failed for %r %s", shown, detail, extra={"action": "web_sign_in_throttle"}
        )
        if throttle.report:
            await self.users.audit(shown, THROTTLED, None, detail)

    async def sign_out(self, request: Request) -> Response:
        await self.form(request)
        session = self._session(request)
        # The row ends: the cookie, wherever a copy of it is, opens nothing any more.
        if session is not None and session.user_id is not None:
            if await self.users.sign_out_session(session.sid):
                logger.info("A session was signed out", extra={"action": "web_sign_out"})
        response = RedirectResponse("/sign-in?done=signed-out", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE, path="/", secure=True, httponly=True, samesite="strict"
        )
        return response

    async def link_page(self, request: Request) -> Response:
        # A GET never signs anyone in: mail scanners fetch links; only the button's POST acts.
        self._link(request)
        return self.page(request, "link.html")

    async def link_use(self, request: Request) -> Response:
        await self.form(request)
        user_id, jti = self._link(request)
        consumed = await self.users.consume_link(jti)
        user = await self.users.user_by_id(user_id) if consumed == user_id else None
        if user is None or user.disabled:
            logger.warning(
                "Sign-in link refused: used already or revoked",
                extra={"action": "web_link_replayed"},
            )
            raise Refused(
                403, "This sign-in link has been used already. Sign in with your password."
            )
        response = RedirectResponse("/", status_code=303)
        if not await self._start_session(request, response, user):
            raise Refused(
                403, "This sign-in link is not valid any more. Sign in with your password."
            )
        logger.info(
            "User %s signed in with an email link", user.username, extra={"action": "web_sign_in"}
        )
        return response

    def _link(self, request: Request) -> tuple[int, str]:
        return self.link_of(
            request,
            "sign-in-link",
            "This sign-in link is not valid any more. Sign in with your password.",
        )


_DIGITS = re.compile(r"\d(?=(?:\D*\d){2})")


def shown_name(username: str) -> str:
    """A user name as the log and the audit show it: a name someone typed may be a phone
    number, so every digit but the last two of a name with four or more is masked."""
    if sum(ch.isdigit() for ch in username) < 4:
        return username
    return _DIGITS.sub("•", username)


def _spoken(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"
