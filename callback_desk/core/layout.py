"""Where an install puts things, which user runs what, and who may read each secret.

One table for ``callback-desk install`` (what it creates), ``callback-desk doctor`` (what it
checks) and the documentation's table. Paths are the installed system's own (``--root``
prefixes them when files are written elsewhere).

Each component runs as its own user, because each holds its own database login: processes of
one user can read each other's environment (``/proc/PID/environ``), so a shared user would
share every login. Secrets with two readers are made readable by exactly those two:

- the FastAGI secret: Asterisk (its dialplan reads it with ``FILE()``) and the AGI service.
  Owned by ``asterisk`` (read as the owner) with the AGI service's group: Asterisk takes its
  groups when it starts, so putting it into a new group would need a restart of the PBX (and
  drop every call); an owner needs nothing.
- the inbox's signing key: the inbox and the morning report (it signs the email's sign-in
  links); never ``asterisk`` (on FreePBX its web UI runs as ``asterisk``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

ETC = PurePosixPath("/etc/callback-desk")
CONFIG = ETC / "callback-desk.toml"
STATE = PurePosixPath("/var/lib/callback-desk")
AGI_SECRET = ETC / "agi-secret"
WEB_SECRET = ETC / "web.secret"
# What `install` created, for `uninstall` (which removes exactly that).
MANIFEST = ETC / "installed.json"

ROOT_USER = "root"
ASTERISK = "asterisk"
# Every service user is a member: the config file (no secrets) is readable by this group.
CONFIG_GROUP = "callback-desk"
# The inbox's signing key: the inbox and the report.
WEB_KEY_GROUP = "cbd-web-key"

# The database, and its owner role (same name; nobody logs in as it).
DATABASE = "callback_desk"


@dataclass(frozen=True)
class Component:
    """One service: its user (and that user's own group), unit, secrets file, database role."""

    name: str  # listener | agi | web | report | purge
    command: str  # the subcommand its unit runs
    db_role: str  # the group role its login is a member of (sql/grants.sql)
    timer: bool  # started by a timer (or cron), not kept running
    why: str

    @property
    def user(self) -> str:
        return f"cbd-{self.name}"

    @property
    def unit(self) -> str:
        return f"callback-desk-{self.name}.service"

    @property
    def env_file(self) -> PurePosixPath:
        return ETC / f"{self.name}.env"

    def login(self, database: str) -> str:
        """The database login of this component for ``database`` (roles are cluster-wide)."""
        return f"{database}_{self.name}"


COMPONENTS: tuple[Component, ...] = (
    Component("listener", "listen", "cbd_listener", False, "records missed calls from AMI"),
    Component("agi", "agi serve", "cbd_desk", False, "the desk-phone menu and callbacks"),
    Component("web", "web", "cbd_web", False, "the callback inbox"),
    Component("report", "report --email", "cbd_report", True, "the morning email"),
    Component("purge", "purge", "cbd_purge", True, "deletes calls past [retention] days"),
)
BY_NAME = {c.name: c for c in COMPONENTS}
SERVICE_USERS = tuple(c.user for c in COMPONENTS)


@dataclass(frozen=True)
class SecretFile:
    """A file holding a secret: its owner, group, mode, and the users that must read it."""

    path: PurePosixPath
    owner: str
    group: str
    mode: int
    readers: frozenset[str]  # root reads everything and is not listed
    why: str


def secret_files(
    agi_secret: PurePosixPath = AGI_SECRET,
    web_secret: PurePosixPath = WEB_SECRET,
    pbx_local: bool = True,
) -> tuple[SecretFile, ...]:
    """Every secret an install holds. ``pbx_local``: Asterisk runs on this host as
    ``asterisk`` (without it nobody else reads the FastAGI secret)."""
    agi = BY_NAME["agi"]
    files = [
        SecretFile(
            c.env_file,
            ROOT_USER,
            c.user,
            0o640,
            frozenset({c.user}),
            f"the {c.name} service's database login"
            + (" and AMI secret" if c.name in ("listener", "agi", "web") else ""),
        )
        for c in COMPONENTS
    ]
    files.append(
        SecretFile(
            agi_secret,
            ASTERISK if pbx_local else ROOT_USER,
            agi.user,
            0o440,
            frozenset({ASTERISK, agi.user} if pbx_local else {agi.user}),
            "the FastAGI secret: the dialplan's FILE() (as asterisk) and the AGI service",
        )
    )
    files.append(
        SecretFile(
            web_secret,
            ROOT_USER,
            WEB_KEY_GROUP,
            0o440,
            frozenset({BY_NAME["web"].user, BY_NAME["report"].user}),
            "the inbox's signing key: the inbox and the report (the email's sign-in links)",
        )
    )
    return tuple(files)


def group_members() -> dict[str, tuple[str, ...]]:
    """The groups an install creates besides each service user's own, and their members."""
    return {
        CONFIG_GROUP: SERVICE_USERS,
        WEB_KEY_GROUP: (BY_NAME["web"].user, BY_NAME["report"].user),
    }
