"""Every exception Callback Desk raises on purpose: one tree, drawn here.

    CallbackDeskError
     ├── ConfigError          a setting or argument is missing or malformed (names it); exit 2
     ├── StoreError           PostgreSQL said no
     │    ├── StoreUnavailable    cannot reach the database right now (retry later)
     │    ├── StoreTimeout        a statement ran out of time (the database answered, slowly)
     │    └── SchemaError         the schema is missing, too old or newer than this code
     ├── AmiError             the PBX's manager interface said no (or an action was unsafe)
     │    ├── AmiUnavailable      cannot reach AMI right now (refused, timed out, TLS failed)
     │    ├── AmiLoginRefused     AMI refused our username/secret
     │    └── AmiFramingError     the peer broke the AMI framing (no banner, endless frame)
     ├── RecordsUnavailable   the PBX's own call records (CDR/CEL tables) cannot be read
     ├── MalformedEvent       an AMI frame lacks a header we need; logged and skipped (also a
     │                        ValueError)
     ├── SpoolError           the listener's local spool (state directory) cannot be used
     │    └── SpoolFull           the spool reached [listener] spool_max_mb
     ├── ListenerFailed       one of the listener's own tasks failed; `listen` exits 1
     ├── CallbackError        a callback cannot be placed
     │    ├── NotCallable         the stored number may never reach Dial()
     │    ├── UnknownCall         no missed call has that id
     │    ├── OutOfScope          the desk phone does not hear that line
     │    ├── NotAwaiting         the caller was already called back, or marked never/handled
     │    └── DeskUnavailable     the desk phone did not answer click-to-call
     ├── MailError            the mail server refused the report
     ├── ListenError          a server cannot bind its address (taken, not ours, unresolvable)
     ├── DemoError            `callback-desk demo` could not run (its database, listener, inbox)
     └── InstallError         `callback-desk install`/`uninstall` could not make a change

    ChannelGone (agi.exceptions)       the AGI channel hung up, or Asterisk closed the session
    AgiReplyError (agi.exceptions)     Asterisk refused a command (510, 520) or did not speak AGI
    UnsafeAgiArgument (agi.exceptions) a value would break out of an AGI command line (a bug)

    Internal to one feature, never seen outside it:
    BadToken (callback_desk.web.auth)  a signed link or cookie is tampered, expired or replayed
    Refused (callback_desk.web.views)  an inbox request becomes an HTTP error page (status, text)

Each class docstring is its default message. Library exceptions are wrapped where they enter
(``raise StoreUnavailable(...) from exc``) so callers handle our tree only.
"""

from __future__ import annotations

import os

# gaierror is _socket's: see callback_desk.core.pgwire for why not the public module.
from _socket import gaierror


def os_reason(exc: OSError) -> str:
    """ "Connection refused", not asyncio's "Connect call failed ('127.0.0.1', 9)"."""
    if isinstance(exc, gaierror) or not exc.errno:
        return exc.strerror or str(exc) or type(exc).__name__
    return os.strerror(exc.errno)


class CallbackDeskError(Exception):
    """Callback Desk failed."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigError(CallbackDeskError):
    """The configuration is invalid."""


class StoreError(CallbackDeskError):
    """The database refused the operation."""


class StoreUnavailable(StoreError):
    """The database cannot be reached."""


class StoreTimeout(StoreError):
    """The database did not finish the statement in time."""


class SchemaError(StoreError):
    """The database schema does not match this version of Callback Desk."""


class AmiError(CallbackDeskError):
    """The PBX manager interface (AMI) refused the operation."""


class AmiUnavailable(AmiError):
    """The PBX manager interface (AMI) cannot be reached."""


class AmiLoginRefused(AmiError):
    """The PBX manager interface (AMI) refused the login."""


class AmiFramingError(AmiError):
    """The AMI peer sent something that is not AMI framing."""


class RecordsUnavailable(CallbackDeskError):
    """The PBX's own call records (CDR/CEL tables) cannot be read."""


class MalformedEvent(CallbackDeskError, ValueError):
    """An AMI event lacks a required header."""


class SpoolError(CallbackDeskError):
    """The listener's spool of decided calls cannot be used."""


class SpoolFull(SpoolError):
    """The listener's spool of decided calls is full."""


class ListenerFailed(CallbackDeskError):
    """A listener task failed; exiting so that the service manager restarts the listener."""


class CallbackError(CallbackDeskError):
    """The callback cannot be placed."""


class NotCallable(CallbackError):
    """The stored number is not callable (withheld, malformed, premium-rate or not allowed)."""


class UnknownCall(CallbackError):
    """No missed call has that id."""


class OutOfScope(CallbackError):
    """That missed call is not one this extension may call back."""


class NotAwaiting(CallbackError):
    """That caller is no longer awaiting a callback (returned, or marked never/handled)."""


class DeskUnavailable(CallbackError):
    """The desk phone did not answer (offline, busy or not picked up)."""


class MailError(CallbackDeskError):
    """The mail server refused the report."""


class ListenError(CallbackDeskError):
    """Cannot listen on that address."""


class DemoError(CallbackDeskError):
    """The demo could not run."""


class InstallError(CallbackDeskError):
    """The installer could not make a change."""
