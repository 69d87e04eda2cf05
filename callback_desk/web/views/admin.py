"""The admin pages: the inbox's users, for admins only, and the password links they hand out.

Every page and action is refused to anyone but an admin with the same answer as a page that does
not exist (404, logged and audited), after the CSRF check of :meth:`Views.form` for a POST. The
database checks again: cbd_web changes users only through the functions of
sql/0012_admin.sql, which refuse an acting user who is not a signed-in, enabled admin and any
change that would leave no enabled admin. A new user and a password reset get a one-time link
to set their own password (``/password/<token>``): the admin never knows a password.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from callback_desk.core.exceptions import ConfigError
from callback_desk.web.accounts import MIN_PASSWORD, USERNAME, check_user
from callback_desk.web.auth import ROLES, new_id
from callback_desk.web.store import Changed, User
from callback_desk.web.views.base import Refused, Views, row_id

logger = logging.getLogger(__name__)

# What a redirect after an admin action may say (the query string carries only these codes).
ADMIN_DONE = {
    "changed": "Saved.",
    "disabled": "Disabled: their sessions are signed out and their links void.",
    "enabled": "Enabled. They sign in with their password (old sessions stay ended).",
    "signed-out": "Signed out everywhere.",
}
_LAST_ADMIN = (
    "The practice would have no enabled admin left: make someone else an admin first "
    "(or use `callback-desk user` on the server)."
)


class AdminViews(Views):
    # -- guards -----------------------------------------------------------------------------

    async def _admin(self, request: Request, user: User) -> None:
        """Admins only; anyone else gets the answer of a page that does not exist."""
        if user.role == "admin":
            return
        logger.warning(
            "Refused user %s an admin page", user.username, extra={"action": "web_not_admin"}
        )
        await self.users.audit(user.username, "refused", None, "admin page")
        raise Refused(404, "There is no such page.")

    async def _account(self, user_id: int) -> User:
        found = await self.users.user_by_id(user_id)
        if found is None:
            raise Refused(404, "There is no such user.")
        return found

    def _password_url(self, user_id: int, jti: str) -> tuple[str, datetime]:
        expires = self.clock() + self.ws.link_hours * 3600
        token = self.tokens.sign("password-link", {"u": user_id, "j": jti}, expires)
        return f"{self.ws.public_url}/password/{token}", datetime.fromtimestamp(expires, UTC)

    # -- pages ------------------------------------------------------------------------------

    async def admin_users(self, request: Request, user: User) -> Response:
        await self._admin(request, user)
        return await self._users_page(request, user)

    async def _users_page(
        self, request: Request, user: User, status: int = 200, error: str = "", **typed: str
    ) -> Response:
        return self.page(
            request,
            "admin.html",
            status=status,
            user=user,
            accounts=await self.users.accounts(),
            throttles=await self.users.sign_in_throttles(limit=20),
            roles=ROLES,
            error=error,
            typed=typed,
        )

    async def admin_user(self, request: Request, user: User) -> Response:
        await self._admin(request, user)
        account = await self._account(user_id(request))
        return await self._user_page(request, user, account)

    async def _user_page(
        self, request: Request, user: User, account: User, status: int = 200, error: str = ""
    ) -> Response:
        return self.page(
            request,
            "admin_user.html",
            status=status,
            user=user,
            account=account,
            roles=ROLES,
            sessions=await self.users.sessions_of(account.id),
            done=ADMIN_DONE.get(request.query_params.get("done", ""), ""),
            error=error,
        )

    # -- actions ----------------------------------------------------------------------------

    async def admin_add(self, request: Request, user: User) -> Response:
        form = await self.form(request)
        await self._admin(request, user)
        username = str(form.get("username", "")).strip().lower()
        email = str(form.get("email", "")).strip()
        role = str(form.get("role", ""))
        desks = str(form.get("extensions", ""))
        typed = {"username": username[:40], "email": email[:120], "extensions": desks[:120]}
        try:
            if not USERNAME.fullmatch(username):
                raise ConfigError(
                    "the user name must be 1-40 lower-case letters, digits, '.', '_' or '-'"
                )
            checked_role, exts = check_user(role, extensions(desks), email, form=True)
        except ConfigError as exc:
            return await self._users_page(request, user, 400, _sentence(exc), **typed)
        # A password nobody knows until the link sets theirs (argon2: in a thread).
        hashed = await asyncio.to_thread(self.passwords.hash, new_id())
        jti = new_id()
        expires = datetime.fromtimestamp(self.clock() + self.ws.link_hours * 3600, UTC)
        try:
            added = await self.users.admin_add_user(
                self.sid(request), username, email, checked_role, exts, hashed, jti, expires
            )
        except ConfigError:
            return await self._users_page(
                request, user, 409, f"There is a user {username} already.", **typed
            )
        await self.users.audit(
            user.username, "user added", None, f"{username}: {checked_role}, desk {desks_of(exts)}"
        )
        logger.info(
            "Admin %s added user %s", user.username, username, extra={"action": "web_admin"}
        )
        link, until = self._password_url(added, jti)
        return self.page(
            request,
            "admin_link.html",
            user=user,
            username=username,
            link=link,
            until=until,
            added=True,
        )

    async def admin_change(self, request: Request, user: User) -> Response:
        form = await self.form(request)
        await self._admin(request, user)
        account = await self._account(user_id(request))
        email = str(form.get("email", "")).strip()
        try:
            role, exts = check_user(
                str(form.get("role", "")),
                extensions(str(form.get("extensions", ""))),
                email,
                form=True,
            )
        except ConfigError as exc:
            return await self._user_page(request, user, account, 400, _sentence(exc))
        done = await self.users.admin_change_user(self.sid(request), account.id, role, exts, email)
        await self._after(
            request, user, account, done, "user changed", f"{role}, desk {desks_of(exts)}"
        )
        if account.id == user.id and role != "admin":
            # They stepped down (another admin is left): the admin pages are not theirs now.
            return RedirectResponse("/", status_code=303)
        return RedirectResponse(f"/admin/users/{account.id}?done=changed", status_code=303)

    async def admin_disable(self, request: Request, user: User) -> Response:
        return await self._set_disabled(request, user, disabled=True)

    async def admin_enable(self, request: Request, user: User) -> Response:
        return await self._set_disabled(request, user, disabled=False)

    async def _set_disabled(self, request: Request, user: User, *, disabled: bool) -> Response:
        await self.form(request)
        await self._admin(request, user)
        account = await self._account(user_id(request))
        done = await self.users.admin_set_disabled(self.sid(request), account.id, disabled)
        what = "disabled" if disabled else "enabled"
        await self._after(request, user, account, done, f"user {what}", "")
        if disabled and account.id == user.id:
            # They disabled themselves (another admin is left): their own session has ended.
            return RedirectResponse("/sign-in", status_code=303)
        return RedirectResponse(f"/admin/users/{account.id}?done={what}", status_code=303)

    async def admin_password_link(self, request: Request, user: User) -> Response:
        await self.form(request)
        await self._admin(request, user)
        account = await self._account(user_id(request))
        jti = new_id()
        link, until = self._password_url(account.id, jti)
        if not await self.users.admin_password_link(self.sid(request), account.id, jti, until):
            return await self._user_page(
                request, user, account, 409, "A disabled user gets no link: enable them first."
            )
        await self.users.audit(user.username, "password link", None, account.username)
        return self.page(
            request,
            "admin_link.html",
            user=user,
            username=account.username,
            link=link,
            until=until,
            added=False,
        )

    async def admin_sign_out(self, request: Request, user: User) -> Response:
        await self.form(request)
        await self._admin(request, user)
        account = await self._account(user_id(request))
        ended = await self.users.admin_sign_out(self.sid(request), account.id)
        await self.users.audit(
            user.username, "signed out everywhere", None, f"{account.username}: {ended} sessions"
        )
        if account.id == user.id:
            return RedirectResponse("/sign-in", status_code=303)
        return RedirectResponse(f"/admin/users/{account.id}?done=signed-out", status_code=303)

    async def _after(
        self, request: Request, user: User, account: User, done: Changed, action: str, detail: str
    ) -> None:
        if done == "no-user":
            raise Refused(404, "There is no such user.")
        if done == "last-admin":
            await self.users.audit(
                user.username, "refused", None, f"{action} {account.username}: last admin"
            )
            raise Refused(409, _LAST_ADMIN)
        await self.users.audit(user.username, action, None, f"{account.username} {detail}".strip())
        logger.info(
            "Admin %s: %s %s",
            user.username,
            action,
            account.username,
            extra={"action": "web_admin"},
        )

    # -- the password link (anyone holding it, signed in or not) ---------------------------------

    async def password_page(self, request: Request) -> Response:
        # A GET changes nothing: mail scanners and link previews fetch links.
        user_id_, _jti = self._password_link(request)
        account = await self.users.user_by_id(user_id_)
        return self.page(
            request, "password.html", account=account, error="", min_length=MIN_PASSWORD
        )

    async def password_set(self, request: Request) -> Response:
        form = await self.form(request)
        user_id_, jti = self._password_link(request)
        account = await self.users.user_by_id(user_id_)
        password = str(form.get("password", ""))
        error = ""
        if len(password) < MIN_PASSWORD:
            error = f"The password must be at least {MIN_PASSWORD} characters long."
        elif password != str(form.get("again", "")):
            error = "The two passwords differ."
        if error:
            return self.page(
                request,
                "password.html",
                status=400,
                account=account,
                error=error,
                min_length=MIN_PASSWORD,
            )
        hashed = await asyncio.to_thread(self.passwords.hash, password)
        if await self.users.use_password_link(jti, hashed) != user_id_ or account is None:
            logger.warning(
                "Password link refused: used already or void", extra={"action": "web_link_replayed"}
            )
            raise Refused(
                403, "This link has been used already or is void. Ask your admin for a new one."
            )
        fresh = await self.users.user_by_id(user_id_)
        await self.users.audit(account.username, "password set", None, "with a link")
        response = RedirectResponse("/", status_code=303)
        if fresh is None or not await self._start_session(request, response, fresh):
            return RedirectResponse("/sign-in", status_code=303)
        logger.info(
            "User %s set a password with a link", account.username, extra={"action": "web_sign_in"}
        )
        return response

    def _password_link(self, request: Request) -> tuple[int, str]:
        return self.link_of(
            request,
            "password-link",
            "This link is not valid any more. Ask your admin for a new one.",
        )


def extensions(typed: str) -> list[str]:
    """Desk extensions as typed in a form: separated by commas or spaces."""
    return [e for e in re.split(r"[\s,;]+", typed.strip()) if e]


def desks_of(exts: tuple[str, ...]) -> str:
    return ", ".join(exts) or "none"


def _sentence(exc: ConfigError) -> str:
    text = str(exc)
    return text[:1].upper() + text[1:] + "."


def user_id(request: Request) -> int:
    return row_id(request, "user_id", "There is no such user.")
