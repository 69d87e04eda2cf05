"""``callback-desk user add|passwd|disable|enable|list``: the inbox's accounts, from the shell.

Passwords are read from the terminal (twice) or, for scripts, one line on stdin
(``--password-stdin``); never from the command line, where ``ps`` and shell history show them.
"""

from __future__ import annotations

import getpass
import re
import signal
import sys
import threading
from collections.abc import Sequence
from typing import TextIO

from callback_desk.core.config import Settings
from callback_desk.core.exceptions import ConfigError
from callback_desk.core.store import Store
from callback_desk.web.auth import ROLES, Passwords, Role
from callback_desk.web.store import WebStore

USERNAME = re.compile(r"[a-z0-9._-]{1,40}")
_EXTENSION = re.compile(r"[0-9]{1,10}")
_ADDRESS = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+")
MIN_PASSWORD = 10


def check_username(value: str) -> str:
    if not USERNAME.fullmatch(value):
        raise ConfigError(
            f"user name {value[:40]!r} must be 1-40 lower-case letters, digits, '.', '_' or '-'"
        )
    return value


def check_user(
    role: str, extensions: Sequence[str], email: str, *, form: bool = False
) -> tuple[Role, tuple[str, ...]]:
    """The role and desk extensions, checked; ``form``: the messages name the admin page's fields
    instead of the command line's options."""
    role_f, ext_f, email_f = (
        ("role", "desk", "email") if form else ("--role", "--extension", "--email")
    )
    if role not in ROLES:
        raise ConfigError(f"{role_f} {role[:20]!r} must be one of {', '.join(ROLES)}")
    for ext in extensions:
        if not _EXTENSION.fullmatch(ext):
            raise ConfigError(f"{ext_f} {ext[:20]!r} is not an extension number")
    if role == "therapist" and not extensions:
        raise ConfigError(f"a therapist needs {ext_f} (their desk phone decides their lines)")
    if email and not _ADDRESS.fullmatch(email):
        raise ConfigError(f"{email_f} {email[:60]!r} is not an email address")
    return role, tuple(dict.fromkeys(extensions))


def read_password(from_stdin: bool, stdin: TextIO = sys.stdin) -> str:
    if from_stdin:
        line = stdin.readline()
        if not line:
            raise ConfigError("no password on stdin (--password-stdin reads one line)")
        password = line.rstrip("\r\n")
    else:
        password = _ask_twice()
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"the password must be at least {MIN_PASSWORD} characters long")
    return password


def _ask_twice() -> str:
    """The new password, typed twice at the terminal (never echoed)."""
    if not _terminal():
        # getpass would fall back to reading stdin, echoing it, and fail at its end.
        raise ConfigError(
            "no terminal to ask for the password: pipe one line in with --password-stdin"
        )
    # The CLI asks inside its event loop, whose SIGINT handler only cancels the running task
    # at its next await: Ctrl-C at a blocking prompt would do nothing until Enter. Python's
    # own handler raises KeyboardInterrupt in the read, getpass turns echo back on, and the CLI
    # exits 130.
    main = threading.current_thread() is threading.main_thread()  # signal.signal's condition
    previous = signal.signal(signal.SIGINT, signal.default_int_handler) if main else None
    try:
        password = getpass.getpass("New password: ")
        again = getpass.getpass("Again: ")
    except EOFError:  # Ctrl-D at the prompt
        sys.stderr.write("\n")
        raise ConfigError("no password given (end of input)") from None
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if again != password:
        raise ConfigError("the two passwords differ")
    return password


def _terminal() -> bool:
    try:
        with open("/dev/tty", "rb"):
            return True
    except OSError:  # no controlling terminal (a service, a pipe from cron, ssh -T)
        return sys.stdin.isatty()


async def run(
    settings: Settings,
    action: str,
    username: str | None,
    *,
    role: str = "therapist",
    extensions: Sequence[str] = (),
    email: str = "",
    password_stdin: bool = False,
    out: TextIO = sys.stdout,
    stdin: TextIO | None = None,  # the demo's; sys.stdin, read when called, otherwise
) -> int:
    if action != "list":
        username = check_username(username or "")
    if action == "add":
        checked_role, exts = check_user(role, extensions, email)
        hashed = Passwords().hash(read_password(password_stdin, stdin or sys.stdin))
    elif action == "passwd":
        hashed = Passwords().hash(read_password(password_stdin, stdin or sys.stdin))
    store = await Store.open(settings.database, max_size=1)
    try:
        await store.check_schema()
        users = WebStore(store.pool)
        if action == "add":
            assert username is not None
            await users.add_user(username, email, checked_role, exts, hashed)
            out.write(f"added {username} ({checked_role}, desk {', '.join(exts) or 'none'})\n")
        elif action == "passwd":
            assert username is not None
            if not await users.set_password(username, hashed):
                raise ConfigError(f"no user {username!r}")
            out.write(f"password changed for {username}; their old sessions are signed out\n")
        elif action in ("disable", "enable"):
            assert username is not None
            if not await users.set_disabled(username, action == "disable"):
                raise ConfigError(f"no user {username!r}")
            out.write(f"{action}d {username}\n")
        else:
            for u in await users.users():
                state = "disabled" if u.disabled else "active"
                out.write(
                    f"{u.username}\t{u.role}\t{','.join(u.extensions) or '-'}\t"
                    f"{u.email or '-'}\t{state}\n"
                )
    finally:
        await store.close()
    return 0
