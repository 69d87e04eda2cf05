"""What is there before ``install`` runs: the PBX, the init system, the users, our own files.

Read-only. Everything is read under ``root`` (``/`` or ``--root DIR``), users and groups from
that root's ``/etc/passwd`` and ``/etc/group`` (not this host's name service), so that a
``--root`` install sees the system it installs into.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from callback_desk import __version__
from callback_desk.core.accounts import Accounts, lines
from callback_desk.core.exceptions import ConfigError
from callback_desk.doctor import manager_conf
from callback_desk.install import render

PbxKind = Literal["freepbx", "asterisk", "none"]
InitKind = Literal["systemd", "cron"]


def inside(root: Path, path: PurePosixPath) -> Path:
    """Where ``path`` of the installed system is on this machine."""
    return root / path.relative_to("/") if path.is_absolute() else root / path


@dataclass(frozen=True)
class System:
    """The detected system, as the plan needs it."""

    root: Path
    pbx: PbxKind
    asterisk_etc: PurePosixPath
    init: InitKind
    distro: str
    accounts: Accounts
    program: str  # the callback-desk program the units run
    version: str = __version__
    # manager.conf's [general] (with includes), and the accounts defined outside our block
    manager_general: Mapping[str, str] = field(default_factory=dict)
    foreign_accounts: Mapping[str, str] = field(default_factory=dict)  # name -> file
    foreign_contexts: Mapping[str, str] = field(default_factory=dict)  # context -> file
    # PJSIP endpoint -> its context (plain Asterisk: which is the trunk, which the desks)
    endpoints: Mapping[str, str] = field(default_factory=dict)
    existing_config: str | None = None
    timezone: str = "UTC"

    @property
    def has_asterisk_user(self) -> bool:
        return "asterisk" in self.accounts.users

    def path(self, path: PurePosixPath) -> Path:
        return inside(self.root, path)

    def describe(self) -> str:
        pbx = {"freepbx": "FreePBX", "asterisk": "Asterisk", "none": "no PBX"}[self.pbx]
        where = f" ({self.asterisk_etc})" if self.pbx != "none" else ""
        root = "" if self.root == Path("/") else f", into {self.root}"
        return f"{pbx}{where} on {self.distro}, {self.init}{root}"


def installed_program() -> str:
    """The ``callback-desk`` beside the running Python (a venv's bin/), else on PATH."""
    beside = Path(sys.executable).parent / "callback-desk"
    if beside.is_file():
        return str(beside)
    found = shutil.which("callback-desk")
    if found is None:
        raise ConfigError("cannot find the callback-desk program (pip install it first)")
    return found


def detect(
    root: Path,
    *,
    asterisk_etc: PurePosixPath | None = None,
    pbx: PbxKind | None = None,
    init: InitKind | None = None,
    config: PurePosixPath,
    program: str | None = None,
) -> System:
    etc = asterisk_etc or PurePosixPath("/etc/asterisk")
    kind = pbx or _pbx_kind(root, etc)
    if pbx in ("freepbx", "asterisk") and not inside(root, etc).is_dir():
        raise ConfigError(f"--asterisk-etc: {inside(root, etc)} is not a directory")
    general: dict[str, str] = {}
    foreign: dict[str, str] = {}
    contexts: dict[str, str] = {}
    endpoints: dict[str, str] = {}
    if kind != "none":
        general, foreign = _manager(root, etc)
        contexts = _dialplan_contexts(root, etc, kind)
        endpoints = _endpoints(inside(root, etc) / "pjsip.conf")
    config_path = inside(root, config)
    existing = config_path.read_text("utf-8") if config_path.is_file() else None
    return System(
        root=root,
        pbx=kind,
        asterisk_etc=etc,
        init=init or _init_kind(root),
        distro=_distro(root),
        accounts=Accounts.read(root),
        program=program or installed_program(),
        manager_general=general,
        foreign_accounts=foreign,
        foreign_contexts=contexts,
        endpoints=endpoints,
        existing_config=existing,
        timezone=_timezone(root),
    )


def _pbx_kind(root: Path, etc: PurePosixPath) -> PbxKind:
    # FreePBX 16/17: /etc/freepbx.conf, and fwconsole in /usr/sbin (a link) or its own bin.
    fwconsole = ("usr/sbin/fwconsole", "var/lib/asterisk/bin/fwconsole", "usr/local/sbin/fwconsole")
    if (root / "etc/freepbx.conf").is_file() or any((root / p).exists() for p in fwconsole):
        return "freepbx"
    where = inside(root, etc)
    if (where / "manager.conf").is_file() and (where / "extensions.conf").is_file():
        return "asterisk"
    return "none"


def _init_kind(root: Path) -> InitKind:
    # sd_booted(): systemd is PID 1 when /run/systemd/system exists. For another root, what
    # that root would boot with: a systemd it has installed.
    if root == Path("/"):
        return "systemd" if Path("/run/systemd/system").is_dir() else "cron"
    return "systemd" if (root / "lib/systemd/systemd").exists() else "cron"


def _distro(root: Path) -> str:
    values = {}
    for line in lines(root / "etc/os-release") or lines(root / "usr/lib/os-release"):
        key, _, value = line.partition("=")
        values[key] = value.strip().strip('"')
    name = values.get("NAME", "an unknown system").removesuffix(" GNU/Linux")
    return f"{name} {values.get('VERSION_ID', '')}".strip()


def _timezone(root: Path) -> str:
    text = "\n".join(lines(root / "etc/timezone")).strip()
    if text:
        return text
    link = root / "etc/localtime"
    if link.is_symlink():
        target = os.readlink(link)
        match = re.search(r"zoneinfo/(.+)$", target)
        if match:
            return match.group(1)
    return "UTC"


def manager_file(kind: PbxKind, etc: PurePosixPath) -> PurePosixPath:
    # FreePBX writes manager.conf itself and includes manager_custom.conf for the admin.
    return etc / ("manager_custom.conf" if kind == "freepbx" else "manager.conf")


def dialplan_file(kind: PbxKind, etc: PurePosixPath) -> PurePosixPath:
    return etc / ("extensions_custom.conf" if kind == "freepbx" else "extensions.conf")


_SECTION = re.compile(r"^\[([^\]]+)\]")


def _outside_block(path: Path) -> list[str]:
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError:
        return []
    block = render.find_block(text, str(path))
    lines = text.splitlines()
    if block is not None:
        del lines[block.start : block.end + 1]
    return lines


def without_block(path: Path, text: str) -> str:
    """``text`` without install's own lines (what the system has besides them)."""
    return render.remove_block(text, str(path))


def _manager(root: Path, etc: PurePosixPath) -> tuple[dict[str, str], dict[str, str]]:
    path = inside(root, etc) / "manager.conf"
    try:
        conf = manager_conf.load(path, without_block)
    except OSError:
        return {}, {}
    foreign: dict[str, str] = {}
    for file in conf.files:
        for line in _outside_block(file):
            match = _SECTION.match(line.strip())
            if match and match.group(1) != "general":
                foreign.setdefault(match.group(1), str(file))
    return dict(conf.general), foreign


def _dialplan_contexts(root: Path, etc: PurePosixPath, kind: PbxKind) -> dict[str, str]:
    """Contexts defined in the file our dialplan goes to, outside our block (and, plain,
    extensions.conf's own), so that a hand-pasted copy of the sample is found."""
    found: dict[str, str] = {}
    for path in {inside(root, dialplan_file(kind, etc)), inside(root, etc) / "extensions.conf"}:
        for line in _outside_block(path):
            match = _SECTION.match(line.strip())
            if match:
                found.setdefault(match.group(1), str(path))
    return found


def _endpoints(path: Path) -> dict[str, str]:
    """PJSIP endpoints and their contexts (templates and other section types left out)."""
    sections: list[tuple[str, dict[str, str]]] = []
    templates: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for raw in lines(path):
        line = raw.split(";")[0].strip()
        header = re.match(r"^\[([^\]]+)\](?:\(([^)]*)\))?", line)
        if header:
            name, options = header.group(1), header.group(2) or ""
            current = {}
            for parent in (o.strip() for o in options.split(",")):
                current.update(templates.get(parent, {}))
            if "!" in options:
                templates[name] = current
            else:
                sections.append((name, current))
            continue
        key, sep, value = line.partition("=")
        if sep and current is not None:
            current[key.strip()] = value.lstrip(">").strip()
    return {
        name: values["context"]
        for name, values in sections
        if values.get("type") == "endpoint" and "context" in values
    }
