"""The actions on a caller: call back from the desk phone, handled, never."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from agi.clicktocall import originate
from callback_desk.core.exceptions import (
    AmiError,
    CallbackError,
    DeskUnavailable,
    NotAwaiting,
    NotCallable,
    OutOfScope,
    UnknownCall,
)
from callback_desk.core.model import Disposition
from callback_desk.core.shown import number_of
from callback_desk.web.store import User
from callback_desk.web.views.base import UNDO_WINDOW, Refused, Views, call_id, row_id

logger = logging.getLogger(__name__)


class ActionViews(Views):
    # -- actions ---------------------------------------------------------------------------

    async def call(self, request: Request, user: User) -> Response:
        form = await self.form(request)
        call = await self.caller(user, call_id(request))
        extension = str(form.get("extension") or (user.extensions[0] if user.extensions else ""))
        if extension not in user.extensions:
            raise Refused(403, "That is not one of your desk phones.")
        dial = self._dial or (lambda s, cid, ext: originate(s, cid, ext, callbacks=self.callbacks))
        try:
            done = await dial(self.settings, call.id, extension)
        except (UnknownCall, OutOfScope) as exc:
            await self.users.audit(user.username, "call refused", call.id, str(exc))
            raise Refused(403, "Your desk phone may not call this caller back.") from exc
        except DeskUnavailable as exc:
            await self.users.audit(user.username, "call: desk did not answer", call.id, str(exc))
            raise Refused(409, f"Nothing was dialled: {exc}.") from exc
        except NotAwaiting as exc:
            raise Refused(
                409,
                "Nothing was dialled: this caller is no longer awaiting a callback "
                "(someone returned the call or marked it).",
            ) from exc
        except NotCallable as exc:
            raise Refused(409, "This number cannot be called back from the desk.") from exc
        except (AmiError, CallbackError) as exc:
            logger.error("Click-to-call failed: %s", exc, extra={"action": "web_call_failed"})
            raise Refused(
                502, "The phone system did not take the call. Try the desk phone's menu."
            ) from exc
        await self.users.audit(user.username, "call", call.id, f"desk {done.extension}")
        return RedirectResponse("/?done=ringing", status_code=303)

    async def handled(self, request: Request, user: User) -> Response:
        return await self._dispose(request, user, Disposition.HANDLED)

    async def confirm_never(self, request: Request, user: User) -> Response:
        call = await self.caller(user, call_id(request))
        shown = number_of(call, self.settings.pbx.country)
        return self.page(
            request, "never.html", user=user, call=call, number=shown if call.number_key else ""
        )

    async def never(self, request: Request, user: User) -> Response:
        return await self._dispose(request, user, Disposition.NEVER)

    async def _dispose(self, request: Request, user: User, disposition: Disposition) -> Response:
        await self.form(request)
        call = await self.caller(user, call_id(request))
        session = self._session(request)
        # The database signs the decision with this session's user (not a name we pass).
        if session is None or not await self.users.dispose(session.sid, call.id, disposition):
            raise Refused(401, "Please sign in.")
        await self.users.audit(user.username, disposition, call.id, "")
        return RedirectResponse(f"/?done={disposition}", status_code=303)

    async def undo(self, request: Request, user: User) -> Response:
        """Take back one's own Handled or Never within ``UNDO_WINDOW``; the database checks both
        (web_undo_disposition(), sql/0012_admin.sql) and the awaiting state follows."""
        await self.form(request)
        mark = row_id(request, "mark_id", "There is no such mark.")
        undone = await self.users.undo(self.sid(request), mark, UNDO_WINDOW)
        if undone is None:
            logger.warning(
                "Refused user %s an undo: not theirs, too late or gone",
                user.username,
                extra={"action": "web_undo_refused"},
            )
            await self.users.audit(user.username, "refused", None, f"undo of mark {mark}")
            raise Refused(
                409,
                f"That mark can no longer be undone: only its author can, within "
                f"{UNDO_WINDOW.seconds // 60} minutes.",
            )
        await self.users.audit(user.username, "undo", undone or None, f"mark {mark}")
        return RedirectResponse("/?done=undone", status_code=303)
