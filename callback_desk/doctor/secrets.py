"""Who can read each secret, by its owner, group and mode, against who should (core.layout).

A secret readable by a user that has no business with it fails the check, naming the user and
how (its group, or every user); a secret others may *write* is refused outright (the doctor
exits 2): whoever can replace the inbox's signing key or the FastAGI secret can forge with a
key of their own. Root reads everything and is not counted.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from callback_desk.core.accounts import Accounts
from callback_desk.core.config import exposed
from callback_desk.core.layout import SecretFile


@dataclass(frozen=True)
class Access:
    """Who may read a file by its mode bits (root aside)."""

    readers: dict[str, str]  # user -> how ("owner", "group cbd-agi")


def access(mode: int, uid: int, gid: int, accounts: Accounts) -> Access:
    readers: dict[str, str] = {}
    owner = accounts.user_name(uid)
    if mode & stat.S_IRUSR and owner != "root":
        readers[owner] = "owner"
    group = accounts.group_name(gid)
    if mode & stat.S_IRGRP:
        for member in sorted(accounts.members(group)):
            if member != "root":
                readers.setdefault(member, f"group {group}")
    return Access(readers)


@dataclass(frozen=True)
class Finding:
    ok: bool
    detail: str
    fix: str = ""
    refuse: bool = False


def judge(spec: SecretFile, path: Path, st: os.stat_result, accounts: Accounts) -> Finding:
    """Pure (given the file's stat): the verdict on one secret file. What makes a secret file
    unsafe for any reader is the core's one rule (:func:`exposed`); who else can read it, by
    name, is the layout's (``spec.readers``)."""
    mode, uid, gid = st.st_mode, st.st_uid, st.st_gid
    found = access(mode, uid, gid, accounts)
    owner, group = accounts.user_name(uid), accounts.group_name(gid)
    chmod = f"chown {spec.owner}:{spec.group} {path} && chmod {stat.S_IMODE(spec.mode):04o} {path}"
    have = f"{owner}:{group} {stat.S_IMODE(mode):04o}"
    problem = exposed(st)
    if problem:
        writable = bool(mode & (stat.S_IWGRP | stat.S_IWOTH))
        return Finding(False, f"{path} ({have}) {problem}", chmod, refuse=writable)
    extra = {u: how for u, how in found.readers.items() if u not in spec.readers}
    if extra:
        who = ", ".join(f"{u} ({how})" for u, how in sorted(extra.items()))
        removals = [
            f"gpasswd -d {u} {how.removeprefix('group ')}"
            for u, how in sorted(extra.items())
            if how.startswith("group ") and how.removeprefix("group ") == spec.group
        ]
        fix = " && ".join(removals) if removals else chmod
        return Finding(False, f"{path} ({have}) is readable by {who}, which must not read it", fix)
    missing = sorted(spec.readers - found.readers.keys() - {"root"})
    if missing:
        return Finding(False, f"{path} ({have}): {', '.join(missing)} cannot read it", chmod)
    return Finding(True, f"{path} ({have}): read by {', '.join(sorted(spec.readers))} only")
