"""Carry out a plan: for each action, see what it would change, say so, and (unless it is a dry
run) change it. Everything install creates is recorded in the manifest, which uninstall reads.

Files are written whole: a temporary file in the same directory, created with mode 0600, given
its owner and mode, then renamed over the old one, so that a secret is never readable by anyone
else for an instant and a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

import asyncpg

from callback_desk import __version__
from callback_desk.core import layout, roles, snapshot
from callback_desk.core.accounts import Accounts
from callback_desk.core.exceptions import InstallError
from callback_desk.install import actions as a
from callback_desk.install import database as db
from callback_desk.install import render
from callback_desk.install.plan import SYSTEMD_DIR
from callback_desk.install.system import inside


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _mode(mode: int) -> str:
    return f"{mode:04o}"


def _lines(count: int) -> str:
    return f"{count} line" if count == 1 else f"{count} lines"


@dataclass
class Manifest:
    """What install created (in order), and the version that did."""

    version: str = __version__
    created: list[dict[str, Any]] = field(default_factory=list)
    existed: bool = False

    @classmethod
    def read(cls, path: Path) -> Manifest:
        try:
            data = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            raise InstallError(f"{path} cannot be read ({exc}); it lists what install did") from exc
        return cls(str(data.get("version", "")), list(data.get("created", [])), existed=True)

    def add(self, entry: dict[str, Any]) -> None:
        key = {k: v for k, v in entry.items() if k != "sha256"}
        for old in self.created:
            if {k: v for k, v in old.items() if k != "sha256"} == key:
                old.update(entry)
                return
        self.created.append(entry)

    def has(self, kind: str, path: PurePosixPath) -> bool:
        return any(e.get("kind") == kind and e.get("path") == str(path) for e in self.created)

    def text(self) -> str:
        return json.dumps(
            {"program": render.PROGRAM, "version": self.version, "created": self.created},
            indent=1,
        )


class Executor:
    def __init__(
        self,
        root: Path,
        out: TextIO,
        *,
        dry_run: bool,
        manifest: Manifest,
        admin: db.Admin | None = None,
        secrets: Sequence[str] = (),
    ) -> None:
        self.root = root
        self.out = out
        self.dry_run = dry_run
        self.manifest = manifest
        self.admin = admin
        self.secrets = list(secrets)
        self.accounts = Accounts.read(root)
        self.changed: set[str] = set()
        self.outcomes: list[a.Outcome] = []
        self.kept: list[str] = []
        if manifest.existed and manifest.version != __version__:
            self.changed.add("program")

    # -- output ---------------------------------------------------------------------------------

    def say(self, outcome: a.Outcome) -> None:
        self.outcomes.append(outcome)
        verb = outcome.verb
        if self.dry_run and verb in ("create", "change", "run", "remove"):
            verb = f"would {verb}"  # type: ignore[assignment]
        detail = f"  {outcome.detail}" if outcome.detail else ""
        self.out.write(f"{verb:<16}{outcome.subject}{detail}\n")
        for line in outcome.lines:
            self.out.write(f"{'':<16}| {render.mask(line, self.secrets)}\n")
        self.out.flush()

    def where(self, path: PurePosixPath) -> Path:
        return inside(self.root, path)

    # -- commands -------------------------------------------------------------------------------

    def run_command(self, argv: Sequence[str]) -> None:
        try:
            proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise InstallError(f"{' '.join(argv)}: {exc}") from None
        if proc.returncode != 0:
            said = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
            raise InstallError(
                f"{' '.join(argv)} failed (exit {proc.returncode})"
                + (f": {said[-1]}" if said else "")
            )

    def _root_args(self, flag: str = "--root") -> list[str]:
        return [] if self.root == Path("/") else [flag, str(self.root)]

    # -- users and groups -----------------------------------------------------------------------

    def group(self, action: a.Group) -> None:
        if action.name in self.accounts.groups:
            self.say(a.Outcome("unchanged", f"group {action.name}"))
            return
        self.say(a.Outcome("create", f"group {action.name}", action.why))
        if not self.dry_run:
            self.run_command(["groupadd", "--system", *self._root_args(), action.name])
            self.manifest.add({"kind": "group", "name": action.name})
            self.accounts = Accounts.read(self.root)

    def user(self, action: a.User) -> None:
        groups = ", ".join(action.groups)
        if action.name not in self.accounts.users:
            self.say(
                a.Outcome(
                    "create",
                    f"user {action.name}",
                    f"its own group, member of {groups}; no home, no shell; {action.why}",
                )
            )
            if self.dry_run:
                return
            own = (
                ["--gid", action.name] if action.name in self.accounts.groups else ["--user-group"]
            )
            self.run_command(
                ["useradd", "--system", *self._root_args(), *own, "--no-create-home",
                 "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                 "--comment", f"Callback Desk {action.name.removeprefix('cbd-')}",
                 *(["--groups", ",".join(action.groups)] if action.groups else []),
                 action.name]
            )  # fmt: skip
            self.manifest.add({"kind": "user", "name": action.name})
            if "--user-group" in own:
                self.manifest.add({"kind": "group", "name": action.name})
            self.accounts = Accounts.read(self.root)
            return
        missing = [g for g in action.groups if action.name not in self.accounts.members(g)]
        if not missing:
            self.say(a.Outcome("unchanged", f"user {action.name}", f"member of {groups}"))
            return
        self.say(a.Outcome("change", f"user {action.name}", f"joins {', '.join(missing)}"))
        if not self.dry_run:
            for group in missing:
                self.run_command(
                    ["usermod", *self._root_args(), "--append", "--groups", group, action.name]
                )
                self.manifest.add({"kind": "member", "group": group, "user": action.name})
            self.accounts = Accounts.read(self.root)

    # -- files ----------------------------------------------------------------------------------

    def _ids(self, owner: str, group: str) -> tuple[int, int]:
        try:
            return self.accounts.uid(owner), self.accounts.gid(group)
        except KeyError as exc:
            raise InstallError(f"no user or group {exc} on this system") from None

    def _ownership(self, path: Path, owner: str, group: str, mode: int) -> list[str]:
        """What differs from the wanted owner, group and mode (empty: nothing)."""
        st = path.lstat()
        have = (
            self.accounts.user_name(st.st_uid),
            self.accounts.group_name(st.st_gid),
            stat.S_IMODE(st.st_mode),
        )
        changes = []
        if have[:2] != (owner, group):
            changes.append(f"owner {have[0]}:{have[1]} -> {owner}:{group}")
        if have[2] != mode:
            changes.append(f"mode {_mode(have[2])} -> {_mode(mode)}")
        return changes

    def _set_ownership(self, path: Path, owner: str, group: str, mode: int) -> None:
        if self.dry_run:
            return
        self._remember(path)
        uid, gid = self._ids(owner, group)
        os.chown(path, uid, gid, follow_symlinks=False)
        os.chmod(path, mode)

    def _remember(self, path: Path) -> None:
        """Owner, group and mode of something install did not create, before it changes them
        (once: the first time is what the system had), for uninstall to put back."""
        where = str(PurePosixPath("/") / path.relative_to(self.root))
        if any(e.get("path") == where for e in self.manifest.created):
            return
        st = path.lstat()
        self.manifest.add({"kind": "was", "path": where, "uid": st.st_uid, "gid": st.st_gid,
                           "mode": stat.S_IMODE(st.st_mode)})  # fmt: skip

    def _write(self, path: Path, text: str, owner: str, group: str, mode: int) -> None:
        uid, gid = self._ids(owner, group)
        if path.exists():
            st = path.lstat()
            if (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) != (uid, gid, mode):
                self._remember(path)
        tmp = path.with_name(f".{path.name}.callback-desk-tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fchown(handle.fileno(), uid, gid)
                os.fchmod(handle.fileno(), mode)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _parents(self, path: Path) -> None:
        """Create the missing directories above ``path`` (0755 root), recorded as ours."""
        missing = []
        parent = path.parent
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        for directory in reversed(missing):
            directory.mkdir(mode=0o755)
            os.chmod(directory, 0o755)
            where = PurePosixPath("/") / directory.relative_to(self.root)
            self.manifest.add({"kind": "dir", "path": str(where)})

    def directory(self, action: a.Directory) -> None:
        path = self.where(action.path)
        label = f"{action.path}/"
        what = f"{action.owner}:{action.group} {_mode(action.mode)}"
        if not path.is_dir():
            self.say(a.Outcome("create", label, f"{what}  {action.why}"))
            if not self.dry_run:
                path.mkdir(parents=True, mode=0o700)
                self.manifest.add({"kind": "dir", "path": str(action.path)})
                self._set_ownership(path, action.owner, action.group, action.mode)
            return
        changes = self._ownership(path, action.owner, action.group, action.mode)
        if changes:
            self.say(a.Outcome("change", label, "; ".join(changes)))
            self._set_ownership(path, action.owner, action.group, action.mode)
        else:
            self.say(a.Outcome("unchanged", label, what))

    def file(self, action: a.File) -> None:
        path = self.where(action.path)
        what = f"{action.owner}:{action.group} {_mode(action.mode)}"
        secret = action.shown == render.MASK
        shown = () if secret else tuple(action.shown.splitlines())
        if not path.exists():
            detail = f"{what}  {action.why}" + ("  (a new random secret)" if secret else "")
            self.say(a.Outcome("create", str(action.path), detail.rstrip(), shown))
            if not self.dry_run:
                self._parents(path)
                self._write(path, action.content.reveal(), action.owner, action.group, action.mode)
                self.manifest.add(
                    {
                        "kind": "file",
                        "path": str(action.path),
                        "sha256": sha256(action.content.reveal()),
                    }
                )
            self.changed.add(str(action.path))
            return
        if path.is_symlink() or not path.is_file():
            raise InstallError(f"{path} is not a regular file; move it away and run install again")
        changes = self._ownership(path, action.owner, action.group, action.mode)
        same = action.keep or path.read_text("utf-8", errors="replace") == action.content.reveal()
        if same and not changes:
            kept = "  (yours: kept as it is)" if action.keep and not secret else ""
            self.say(a.Outcome("unchanged", str(action.path), f"{what}{kept}"))
            return
        if not same:
            self.say(a.Outcome("change", str(action.path), f"{what}  new content", shown))
            if not self.dry_run:
                self._write(path, action.content.reveal(), action.owner, action.group, action.mode)
                if self.manifest.has("file", action.path):
                    self.manifest.add({"kind": "file", "path": str(action.path),
                                       "sha256": sha256(action.content.reveal())})  # fmt: skip
        else:
            kept = "content kept; " if action.keep else ""
            self.say(a.Outcome("change", str(action.path), f"{kept}{'; '.join(changes)}"))
            self._set_ownership(path, action.owner, action.group, action.mode)
        self.changed.add(str(action.path))

    def env_file(self, action: a.EnvFile) -> None:
        path = self.where(action.path)
        what = f"{action.owner}:{action.group} {_mode(action.mode)}"
        existing = path.read_text("utf-8") if path.is_file() else ""
        values = {k: v.reveal() for k, v in action.values}
        text = render.env_text(existing, values, action.header)
        have = render.env_values(existing)
        added = [k for k in values if k not in have]
        if not path.exists():
            self.say(a.Outcome("create", str(action.path), f"{what}  {action.why}",
                               tuple(f"{k}=..." for k in added)))  # fmt: skip
            if not self.dry_run:
                self._write(path, text, action.owner, action.group, action.mode)
                self.manifest.add(
                    {"kind": "file", "path": str(action.path), "sha256": sha256(text)}
                )
            self.changed.add(str(action.path))
            return
        changes = self._ownership(path, action.owner, action.group, action.mode)
        if not added and not changes:
            self.say(a.Outcome("unchanged", str(action.path), what))
            return
        detail = "; ".join(changes + ([f"adds {', '.join(added)}"] if added else []))
        self.say(a.Outcome("change", str(action.path), detail))
        if not self.dry_run:
            self._write(path, text, action.owner, action.group, action.mode)
            if self.manifest.has("file", action.path):
                self.manifest.add(
                    {"kind": "file", "path": str(action.path), "sha256": sha256(text)}
                )
        self.changed.add(str(action.path))

    def block(self, action: a.Block) -> None:
        path = self.where(action.path)
        body = action.body.reveal().splitlines()
        shown = tuple(action.shown.splitlines())
        between = f"between '; >>> {render.PROGRAM} {__version__}' markers"
        if not path.exists():
            owner, group, mode = action.create
            self.say(a.Outcome("create", str(action.path),
                               f"{owner}:{group} {_mode(mode)}, {_lines(len(body))} {between}; "
                               f"{action.why}", shown))  # fmt: skip
            if not self.dry_run:
                text = render.put_block("", body, __version__, str(path))
                self._write(path, text, owner, group, mode)
                self.manifest.add({"kind": "block", "path": str(action.path), "created_file": True})
            self.changed.add(str(action.path))
            return
        text = path.read_text("utf-8", errors="replace")
        current = render.block_lines(text, str(path))
        block = render.find_block(text, str(path))
        if current == body and block is not None and block.version == __version__:
            self.say(a.Outcome("unchanged", str(action.path), f"our {_lines(len(body))}"))
            return
        how = "appends" if current is None else "replaces our lines with"
        detail = f"{how} {_lines(len(body))} {between}; {action.why}"
        self.say(a.Outcome("change", str(action.path), detail, shown))
        if not self.dry_run:
            st = path.stat()
            new = render.put_block(text, body, __version__, str(path))
            self._write_keeping(path, new, st)
            if current is None:
                self.manifest.add(
                    {"kind": "block", "path": str(action.path), "created_file": False}
                )
        self.changed.add(str(action.path))

    def _write_keeping(self, path: Path, text: str, st: os.stat_result) -> None:
        """Rewrite someone else's file with its owner and mode as they were."""
        owner = self.accounts.user_name(st.st_uid)
        group = self.accounts.group_name(st.st_gid)
        self._write(path, text, owner, group, stat.S_IMODE(st.st_mode))

    def link(self, action: a.Link) -> None:
        path = self.where(action.path)
        if path.is_symlink() and os.readlink(path) == action.target:
            self.say(a.Outcome("unchanged", str(action.path), f"-> {action.target}"))
            return
        if path.exists() or path.is_symlink():
            self.say(a.Outcome("skip", str(action.path), "exists and is not ours: left alone"))
            return
        self.say(a.Outcome("create", str(action.path), f"-> {action.target}  {action.why}"))
        if not self.dry_run:
            self._parents(path)
            path.symlink_to(action.target)
            self.manifest.add({"kind": "link", "path": str(action.path), "target": action.target})

    # -- commands, units ------------------------------------------------------------------------

    def command(self, action: a.Command) -> None:
        shown = "; ".join(" ".join(argv) for argv in action.argv)
        due = [s for s in action.after if s in self.changed]
        if action.upgrade_only and not self.manifest.existed:
            due = []
        if not due:
            self.say(a.Outcome("unchanged", action.what, "(nothing it depends on changed)"))
            return
        because = "the program's version" if due == ["program"] else ", ".join(due[:3])
        self.say(a.Outcome("run", shown, f"{action.what} ({because} changed)"))
        if not self.dry_run:
            for argv in action.argv:
                self.run_command(argv)

    def systemctl(self) -> list[str]:
        return ["systemctl", *([] if self.root == Path("/") else [f"--root={self.root}"])]

    def units(self, action: a.Units) -> None:
        def state(verb: str, name: str) -> str:
            proc = subprocess.run(
                [*self.systemctl(), verb, name], capture_output=True, text=True, timeout=60
            )
            return proc.stdout.strip()

        todo = [n for n in action.names if state("is-enabled", n) != "enabled"]
        if action.start:
            todo += [n for n in action.names if n not in todo and state("is-active", n) != "active"]
        if not todo:
            self.say(a.Outcome("unchanged", "units", f"{', '.join(action.names)} enabled"))
            return
        now = " --now" if action.start else ""
        self.say(a.Outcome("run", f"systemctl enable{now} {' '.join(todo)}"))
        if not self.dry_run:
            units = self.where(SYSTEMD_DIR)
            before = {p for p in units.glob("*.wants")}
            self.run_command([*self.systemctl(), "enable", *(["--now"] if action.start else []),
                              *todo])  # fmt: skip
            # systemctl makes the .wants directories it needs; they are ours to remove then.
            for made in sorted(set(units.glob("*.wants")) - before):
                self.manifest.add({"kind": "dir", "path": str(SYSTEMD_DIR / made.name)})
            self.manifest.add({"kind": "units", "names": list(action.names)})

    # -- the database ---------------------------------------------------------------------------

    async def database_step(self, action: a.Action) -> None:
        assert self.admin is not None
        async with self.admin.connect() as conn:
            if isinstance(action, a.DbRole):
                await self._role(conn, action)
            elif isinstance(action, a.DbGroupRoles):
                missing = await db.missing_group_roles(conn, roles.ROLES)
                if not missing:
                    self.say(a.Outcome("unchanged", "roles " + ", ".join(roles.ROLES)))
                else:
                    self.say(a.Outcome("create", "roles " + ", ".join(missing),
                                       "NOLOGIN  " + action.why, ("sql/roles.sql",)))  # fmt: skip
                    if not self.dry_run:
                        await db.create_group_roles(conn)
                        for name in missing:
                            await conn.execute(
                                f"COMMENT ON ROLE {db.ident(name)} IS '{db.COMMENT}'"
                            )
                            self.manifest.add({"kind": "role", "name": name})
                    self.changed.add("database")
            elif isinstance(action, a.Database):
                owner = await db.database_owner(conn, action.name)
                if owner is not None:
                    note = "" if owner == action.owner else f" (owner {owner}: left as it is)"
                    self.say(a.Outcome("unchanged", f"database {action.name}", note.strip()))
                    return
                sql = f"CREATE DATABASE {db.ident(action.name)} OWNER {db.ident(action.owner)}"
                self.say(a.Outcome("create", f"database {action.name}", action.why, (sql,)))
                self.changed.add("database")
                if not self.dry_run:
                    await db.create_database(conn, action.name, action.owner)
                    self.manifest.add({"kind": "database", "name": action.name})
            elif isinstance(action, a.Migrate | a.Grants):
                exists = await db.database_owner(conn, action.database) is not None
                if not exists:
                    what = "migrate" if isinstance(action, a.Migrate) else "grants"
                    self.say(a.Outcome("run", f"{what} {action.database}",
                                       "(a new database: everything)"))  # fmt: skip
                    return
        if isinstance(action, a.Migrate | a.Grants):
            async with self.admin.connect(action.database) as conn:
                if isinstance(action, a.Migrate):
                    await self._migrate(conn, action)
                else:
                    await self._grants(conn, action)

    async def _role(self, conn: Any, action: a.DbRole) -> None:
        found = await db.role(conn, action.name)
        password = action.password.reveal() if action.password else None
        login = "LOGIN PASSWORD '********'" if password is not None else "NOLOGIN"
        member = f" IN ROLE {action.member_of}" if action.member_of else ""
        if found is None:
            sql = f"CREATE ROLE {db.ident(action.name)} {login}{member}"
            self.say(a.Outcome("create", f"role {action.name}", action.why, (sql,)))
            self.changed.add("database")
            if not self.dry_run:
                await db.create_role(conn, action.name, password, action.member_of)
                self.manifest.add({"kind": "role", "name": action.name})
            return
        todo = []
        if password is not None and not db.scram_matches(password, found["rolpassword"]):
            todo.append(f"ALTER ROLE {db.ident(action.name)} LOGIN PASSWORD '********'")
        if action.member_of and action.member_of not in found["member_of"]:
            todo.append(f"GRANT {action.member_of} TO {db.ident(action.name)}")
        if not todo:
            self.say(a.Outcome("unchanged", f"role {action.name}"))
            return
        self.say(a.Outcome("change", f"role {action.name}", "to match its secrets file",
                           tuple(todo)))  # fmt: skip
        self.changed.add("database")
        if not self.dry_run:
            if password is not None and todo[0].startswith("ALTER"):
                await db.set_password(conn, action.name, password)
            if action.member_of and action.member_of not in found["member_of"]:
                await conn.execute(f"GRANT {db.ident(action.member_of)} TO {db.ident(action.name)}")

    async def _migrate(self, conn: Any, action: a.Migrate) -> None:
        pending = await db.pending_migrations(conn)
        if not pending:
            self.say(a.Outcome("unchanged", f"schema of {action.database}", "up to date"))
            return
        self.say(a.Outcome("run", f"migrate {action.database}", f"as {action.owner}: "
                           f"{', '.join(pending)}"))  # fmt: skip
        self.changed.add("database")
        if not self.dry_run:
            await db.migrate_as(conn, action.owner)

    async def _grants(self, conn: Any, action: a.Grants) -> None:
        changed = await db.apply_grants(conn, action.owner, commit=not self.dry_run)
        if not changed:
            self.say(a.Outcome("unchanged", f"grants in {action.database}", "as sql/grants.sql"))
            return
        self.say(a.Outcome("run", f"grants in {action.database}", "sql/grants.sql, as "
                           f"{action.owner}"))  # fmt: skip
        self.changed.add("database")

    # -- the whole plan -------------------------------------------------------------------------

    async def run(self, plan: Sequence[a.Action]) -> None:
        for action in plan:
            if isinstance(action, a.Group):
                self.group(action)
            elif isinstance(action, a.User):
                self.user(action)
            elif isinstance(action, a.Directory):
                self.directory(action)
            elif isinstance(action, a.File):
                self.file(action)
            elif isinstance(action, a.EnvFile):
                self.env_file(action)
            elif isinstance(action, a.Block):
                self.block(action)
            elif isinstance(action, a.Link):
                self.link(action)
            elif isinstance(action, a.Command):
                self.command(action)
            elif isinstance(action, a.Units):
                self.units(action)
            elif isinstance(action, a.Skip):
                self.say(a.Outcome("skip", action.what, action.reason))
            elif isinstance(action, a.DbRole | a.DbGroupRoles | a.Database | a.Migrate | a.Grants):
                await self.database_step(action)
            else:
                await self.undo(action)

    def write_manifest(self) -> None:
        if self.dry_run:
            return
        path = self.where(layout.MANIFEST)
        self.manifest.version = __version__
        if not path.parent.is_dir():
            return
        self._write(path, self.manifest.text() + "\n", layout.ROOT_USER, layout.ROOT_USER, 0o600)

    # -- uninstall ------------------------------------------------------------------------------

    async def undo(self, action: a.Action) -> None:
        if isinstance(action, a.DisableUnits):
            self.say(a.Outcome("run", f"systemctl disable{' --now' if action.stop else ''} "
                                      + " ".join(action.names)))  # fmt: skip
            if not self.dry_run:
                stop = ["--now"] if action.stop else []
                self.run_command([*self.systemctl(), "disable", *stop, *action.names])
        elif isinstance(action, a.RemoveBlock):
            self.remove_block(action)
        elif isinstance(action, a.RemoveFile):
            self.remove_file(action)
        elif isinstance(action, a.RemoveLink):
            path = self.where(action.path)
            if path.is_symlink() and os.readlink(path) == action.target:
                self.say(a.Outcome("remove", str(action.path)))
                if not self.dry_run:
                    path.unlink()
        elif isinstance(action, a.RemoveDirectory):
            self.remove_directory(action)
        elif isinstance(action, a.RestoreOwnership):
            self.restore(action)
        elif isinstance(action, a.RemoveMember):
            if action.user in self.accounts.members(action.group):
                self.say(a.Outcome("remove", f"user {action.user} from group {action.group}"))
                if not self.dry_run:
                    self.run_command(["gpasswd", *self._root_args("--root"), "--delete",
                                      action.user, action.group])  # fmt: skip
        elif isinstance(action, a.RemoveUser):
            if action.name in self.accounts.users:
                self.say(a.Outcome("remove", f"user {action.name}"))
                if not self.dry_run:
                    self.run_command(["userdel", *self._root_args(), action.name])
                    self.accounts = Accounts.read(self.root)
        elif isinstance(action, a.RemoveGroup):
            if action.name in self.accounts.groups:
                self.say(a.Outcome("remove", f"group {action.name}"))
                if not self.dry_run:
                    self.run_command(["groupdel", *self._root_args(), action.name])
                    self.accounts = Accounts.read(self.root)
        elif isinstance(action, a.DropRole | a.DropDatabase):
            await self.drop(action)
        elif isinstance(action, a.Keep):
            self.say(a.Outcome("keep", action.what, action.reason))
            self.kept.append(action.what)
        else:
            raise AssertionError(f"no executor for {action!r}")

    def remove_block(self, action: a.RemoveBlock) -> None:
        path = self.where(action.path)
        if not path.is_file():
            return
        text = path.read_text("utf-8", errors="replace")
        if render.find_block(text, str(path)) is None:
            return
        new = render.remove_block(text, str(path))
        empty = action.delete_if_empty and not new.strip()
        self.say(a.Outcome("remove", str(action.path),
                           "the file (install created it for our lines)" if empty
                           else "our lines between the markers"))  # fmt: skip
        self.changed.add(str(action.path))
        if self.dry_run:
            return
        if empty:
            path.unlink()
        else:
            self._write_keeping(path, new, path.stat())

    def remove_file(self, action: a.RemoveFile) -> None:
        path = self.where(action.path)
        if not path.is_file():
            return
        if not action.force and sha256(path.read_text("utf-8", errors="replace")) != action.sha256:
            self.say(a.Outcome("keep", str(action.path), "changed since install (yours now); "
                               "--drop-data removes it too"))  # fmt: skip
            self.kept.append(str(action.path))
            return
        self.say(a.Outcome("remove", str(action.path)))
        self.changed.add(str(action.path))
        if not self.dry_run:
            path.unlink()
            # The config's parsed copy (callback_desk.core.snapshot) goes with it.
            snapshot.discard(snapshot.path_for(path))

    def restore(self, action: a.RestoreOwnership) -> None:
        path = self.where(action.path)
        if not path.exists() or path.is_symlink():
            return
        st = path.lstat()
        if (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (
            action.uid,
            action.gid,
            action.mode,
        ):
            return
        owner = f"{self.accounts.user_name(action.uid)}:{self.accounts.group_name(action.gid)}"
        self.say(a.Outcome("change", str(action.path), f"back to {owner} {_mode(action.mode)}, "
                           "as before install"))  # fmt: skip
        if not self.dry_run:
            os.chown(path, action.uid, action.gid, follow_symlinks=False)
            os.chmod(path, action.mode)

    def remove_directory(self, action: a.RemoveDirectory) -> None:
        path = self.where(action.path)
        if not path.is_dir():
            return
        left = sorted(p.name for p in path.iterdir() if p.name != layout.MANIFEST.name)
        if left and not action.recursive:
            shown = ", ".join(left[:5]) + (" ..." if len(left) > 5 else "")
            self.say(a.Outcome("keep", f"{action.path}/", f"not empty: {shown}"))
            self.kept.append(str(action.path))
            return
        self.say(a.Outcome("remove", f"{action.path}/", "with what is in it" if left else ""))
        if not self.dry_run:
            if action.recursive:
                shutil.rmtree(path)
            else:
                (path / layout.MANIFEST.name).unlink(missing_ok=True)
                path.rmdir()

    async def drop(self, action: a.DropRole | a.DropDatabase) -> None:
        assert self.admin is not None
        async with self.admin.connect() as conn:
            if isinstance(action, a.DropDatabase):
                if await db.database_owner(conn, action.name) is None:
                    return
                sql, kind = f"DROP DATABASE {db.ident(action.name)}", "database"
            else:
                if await db.role(conn, action.name) is None:
                    return
                sql, kind = f"DROP ROLE {db.ident(action.name)}", "role"
            what = f"{kind} {action.name}"
            if not await db.ours(conn, kind, action.name):
                self.say(a.Outcome("keep", what, "callback-desk install did not create it"))
                self.kept.append(what)
                return
            if kind == "database":
                calls = await self._calls(action.name)
                detail = f"with {calls} call records" if calls is not None else ""
            else:
                detail = ""
            self.say(a.Outcome("remove", what, detail, (sql,)))
            if not self.dry_run:
                try:
                    await conn.execute(sql)
                except asyncpg.PostgresError as exc:  # a role another database still uses
                    self.say(a.Outcome("keep", what, str(exc)))
                    self.kept.append(what)

    async def _calls(self, database: str) -> int | None:
        assert self.admin is not None
        async with self.admin.connect(database) as conn:
            return await db.count_calls(conn)
