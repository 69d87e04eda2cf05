"""Signing in (password, or a single-use email link) and out."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

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
        address = request.client.host if request.client else "?"
        if self.limit.locked(username, address):
            logger.warning(
                "Sign-in refused for %r: too many failures",
                username,
                extra={"action": "web_locked"},
            )
            return self.page(
                request,
                "sign_in.html",
                status=429,
                error="Too many failed attempts. Wait a few minutes, then try again.",
            )
        user = await self.users.user_by_name(username) if username else None
        stored = user.password_hash if user is not None else self._dummy_hash
        # argon2 takes ~0.3 s and 64 MiB on purpose: in a thread, so live pages keep flowing.
        verified = await asyncio.to_thread(self.passwords.verify, stored, password)
        ok = verified and user is not None and not user.disabled
        if not ok or user is None:
            self.limit.failed(username, address)
            logger.warning(
                "Sign-in failed for %r", username, extra={"action": "web_sign_in_failed"}
            )
            return self.page(
                request, "sign_in.html", status=401, error="Wrong user name or password."
            )
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
