"""Users and groups as a system's own files list them (``/etc/passwd``, ``/etc/group``).

Read from a root directory, so that the installer sees the system it installs into (``--root``)
and the doctor the one it runs on. Debian servers keep their users in these files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


def lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text("utf-8").splitlines() if line.strip()]
    except FileNotFoundError:
        return []


@dataclass(frozen=True)
class Accounts:
    """Users and groups of a root (from its own files)."""

    users: Mapping[str, tuple[int, int]] = field(default_factory=dict)  # name -> (uid, gid)
    groups: Mapping[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)

    @classmethod
    def read(cls, root: Path) -> Accounts:
        users: dict[str, tuple[int, int]] = {}
        groups: dict[str, tuple[int, tuple[str, ...]]] = {}
        for line in lines(root / "etc/passwd"):
            parts = line.split(":")
            if len(parts) >= 4 and parts[2].isdigit() and parts[3].isdigit():
                users[parts[0]] = (int(parts[2]), int(parts[3]))
        for line in lines(root / "etc/group"):
            parts = line.split(":")
            if len(parts) >= 4 and parts[2].isdigit():
                members = tuple(m for m in parts[3].split(",") if m)
                groups[parts[0]] = (int(parts[2]), members)
        return cls(users, groups)

    def uid(self, name: str) -> int:
        return self.users[name][0]

    def gid(self, name: str) -> int:
        return self.groups[name][0]

    def user_name(self, uid: int) -> str:
        return next((n for n, (u, _g) in self.users.items() if u == uid), str(uid))

    def group_name(self, gid: int) -> str:
        return next((n for n, (g, _m) in self.groups.items() if g == gid), str(gid))

    def members(self, group: str) -> set[str]:
        """Everyone in ``group``: listed members and users whose primary group it is."""
        if group not in self.groups:
            return set()
        gid, listed = self.groups[group]
        return set(listed) | {n for n, (_u, g) in self.users.items() if g == gid}

    def groups_of(self, user: str) -> set[str]:
        return {g for g in self.groups if user in self.members(g)}
