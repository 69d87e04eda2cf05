"""What ``install`` and ``uninstall`` do, one frozen value per step.

The plan (``plan.py``) is a tuple of these, computed without touching the system; the executor
(``execute.py``) checks each against the system (``unchanged`` or what would change) and, unless
it is a dry run, applies it. Paths are the installed system's own; secrets travel as
:class:`Secret` (their repr hides them) and every text shown on screen is masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

from callback_desk.core.config import Secret


@dataclass(frozen=True)
class Group:
    """A system group."""

    name: str
    why: str = ""


@dataclass(frozen=True)
class User:
    """A system user with a group of its own, no home and no login shell, and a member of
    ``groups`` (added to an existing user, never taken away)."""

    name: str
    groups: tuple[str, ...] = ()
    why: str = ""


@dataclass(frozen=True)
class Directory:
    path: PurePosixPath
    owner: str
    group: str
    mode: int
    why: str = ""


@dataclass(frozen=True)
class File:
    """A whole file. ``keep``: an existing one keeps its content (only owner and mode are set)."""

    path: PurePosixPath
    owner: str
    group: str
    mode: int
    content: Secret
    shown: str  # the content as printed (secrets masked)
    keep: bool = False
    why: str = ""


@dataclass(frozen=True)
class EnvFile:
    """A secrets file of ``KEY=value`` lines: keys it lacks are added; nothing is replaced."""

    path: PurePosixPath
    owner: str
    group: str
    mode: int
    values: tuple[tuple[str, Secret], ...]
    header: str
    why: str = ""


@dataclass(frozen=True)
class Block:
    """Our lines between marker lines in someone else's file (Asterisk's configuration).
    ``create``: owner, group and mode for the file when it does not exist yet."""

    path: PurePosixPath
    body: Secret  # the lines, joined by newlines
    shown: str
    create: tuple[str, str, int]
    why: str = ""


@dataclass(frozen=True)
class Link:
    path: PurePosixPath
    target: str
    why: str = ""


@dataclass(frozen=True)
class DbRole:
    """A PostgreSQL role. With a password it may log in, as a member of ``member_of``."""

    name: str
    password: Secret | None = None
    member_of: str | None = None
    why: str = ""


@dataclass(frozen=True)
class DbGroupRoles:
    """The per-component group roles cbd_* (``sql/roles.sql``; shared by the cluster)."""

    why: str = "what each component may do is granted to these (sql/grants.sql)"


@dataclass(frozen=True)
class Database:
    name: str
    owner: str
    why: str = ""


@dataclass(frozen=True)
class Migrate:
    """Pending migrations, run as the database's owner (``SET ROLE``)."""

    database: str
    owner: str


@dataclass(frozen=True)
class Grants:
    """``sql/grants.sql`` in the database, as its owner."""

    database: str
    owner: str


@dataclass(frozen=True)
class Command:
    """Commands run when any of ``after`` changed in this run (a reload, a restart)."""

    argv: tuple[tuple[str, ...], ...]
    after: tuple[str, ...]  # subjects (paths, "database") whose change calls for it
    what: str
    upgrade_only: bool = False  # only when an earlier install is there (restart what runs)


@dataclass(frozen=True)
class Units:
    """systemd units enabled (and, on this system, started)."""

    names: tuple[str, ...]
    start: bool


@dataclass(frozen=True)
class Skip:
    """A step this install leaves out, and why (said on screen, nothing done)."""

    what: str
    reason: str


# -- uninstall -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoveFile:
    path: PurePosixPath
    sha256: str  # what install wrote; a file changed since is kept (unless ``force``)
    force: bool = False


@dataclass(frozen=True)
class RemoveBlock:
    path: PurePosixPath
    delete_if_empty: bool = False  # install created the file for the block


@dataclass(frozen=True)
class RemoveDirectory:
    path: PurePosixPath
    recursive: bool = False  # with --drop-data: the listener's spool goes too


@dataclass(frozen=True)
class RemoveLink:
    path: PurePosixPath
    target: str


@dataclass(frozen=True)
class RestoreOwnership:
    """Owner, group and mode install changed on something it did not create, as they were."""

    path: PurePosixPath
    uid: int
    gid: int
    mode: int


@dataclass(frozen=True)
class DisableUnits:
    names: tuple[str, ...]
    stop: bool


@dataclass(frozen=True)
class RemoveUser:
    name: str


@dataclass(frozen=True)
class RemoveGroup:
    name: str


@dataclass(frozen=True)
class RemoveMember:
    group: str
    user: str


@dataclass(frozen=True)
class DropRole:
    name: str


@dataclass(frozen=True)
class DropDatabase:
    name: str


@dataclass(frozen=True)
class Keep:
    """Something uninstall leaves in place on purpose, said on screen."""

    what: str
    reason: str


Action = (
    Group
    | User
    | Directory
    | File
    | EnvFile
    | Block
    | Link
    | DbRole
    | DbGroupRoles
    | Database
    | Migrate
    | Grants
    | Command
    | Units
    | Skip
    | RemoveFile
    | RemoveBlock
    | RemoveDirectory
    | RemoveLink
    | DisableUnits
    | RestoreOwnership
    | RemoveUser
    | RemoveGroup
    | RemoveMember
    | DropRole
    | DropDatabase
    | Keep
)

Verb = Literal["create", "change", "unchanged", "skip", "run", "remove", "keep"]


@dataclass(frozen=True)
class Outcome:
    """What a step does (or did): the verb, the thing, and details lines (masked)."""

    verb: Verb
    subject: str
    detail: str = ""
    lines: tuple[str, ...] = field(default=())
