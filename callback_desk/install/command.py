"""``callback-desk install`` and ``uninstall``: detect, plan, carry out, say what was done."""

from __future__ import annotations

import asyncio
import os
import secrets as random
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TextIO
from urllib.parse import unquote, urlsplit

from agi import freepbx
from callback_desk import __version__
from callback_desk.core import layout
from callback_desk.core import samples as core_samples
from callback_desk.core.config import Secret
from callback_desk.core.exceptions import ConfigError, InstallError
from callback_desk.install import database as db
from callback_desk.install import plan as p
from callback_desk.install import render
from callback_desk.install.execute import Executor, Manifest
from callback_desk.install.system import InitKind, PbxKind, System, detect


@dataclass(frozen=True)
class Request:
    """What the command line asked for."""

    install: p.InstallOptions
    pg_admin: str | None = None
    pbx: PbxKind | None = None
    init: InitKind | None = None
    asterisk_etc: PurePosixPath | None = None
    drop_data: bool = False


def samples() -> p.Samples:
    """The texts install starts from: the samples shipped with the program (core.samples)."""
    shipped = core_samples.samples()
    return p.Samples(
        config=core_samples.sample_text("callback-desk.toml"),
        manager=core_samples.sample_text("manager.conf"),
        extensions=core_samples.sample_text("extensions.conf"),
        units={
            name: item.read_text("utf-8")
            for name, item in shipped.items()
            if name.endswith((".service", ".timer"))
        },
        cron=core_samples.sample_text("callback-desk.cron"),
    )


def _read(path: Path) -> str | None:
    try:
        return path.read_text("utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise InstallError(f"{path} cannot be read ({exc})") from None


def gather_secrets(system: System, cfg: p.Config, database: str) -> p.Secrets:
    """Each secret from the file that holds it; a new random one where there is none."""
    new: set[str] = set()

    def keep_or_new(name: str, value: str | None, make: str) -> Secret:
        if value:
            return Secret(value)
        new.add(name)
        return Secret(make)

    env = {
        c.name: render.env_values(_read(system.path(c.env_file)) or "") for c in layout.COMPONENTS
    }
    logins: dict[str, tuple[str, Secret]] = {}
    for c in layout.COMPONENTS:
        dsn = urlsplit(env[c.name].get("CALLBACK_DESK_DATABASE_DSN", ""))
        if dsn.username and dsn.password:
            logins[c.name] = (unquote(dsn.username), Secret(unquote(dsn.password)))
        else:
            new.add(f"login:{c.name}")
            logins[c.name] = (c.login(database), Secret(random.token_hex(24)))
    call = env["agi"].get("CALLBACK_DESK_AGI_AMI_SECRET") or env["web"].get(
        "CALLBACK_DESK_AGI_AMI_SECRET"
    )
    return p.Secrets(
        ami_listener=keep_or_new(
            "ami_listener", env["listener"].get("CALLBACK_DESK_AMI_SECRET"), random.token_hex(24)
        ),
        ami_call=keep_or_new("ami_call", call, random.token_hex(24)),
        # Lower-case hex: the dialplan keeps only 0-9a-f of the file (FILTER).
        agi=keep_or_new("agi", _read(system.path(cfg.agi_secret)), random.token_hex(32)),
        web=keep_or_new("web", _read(system.path(cfg.web_secret)), random.token_urlsafe(48)),
        logins=logins,
        new=frozenset(new),
    )


def _admin(request: Request, system: System) -> db.Admin | None:
    if not request.install.with_database:
        return None
    if request.pg_admin:
        return db.Admin(dsn=request.pg_admin)
    if "postgres" not in system.accounts.users:
        raise InstallError(
            "PostgreSQL is not installed on this host (no postgres user): "
            "apt install postgresql, or name a server with --pg-admin DSN"
        )
    return db.Admin(postgres_uid=system.accounts.uid("postgres"))


def _detect(request: Request) -> System:
    return detect(
        request.install.root,
        asterisk_etc=request.asterisk_etc,
        pbx=request.pbx,
        init=request.init,
        config=layout.CONFIG,
    )


def _require_root(request: Request) -> None:
    if not request.install.dry_run and os.geteuid() != 0:
        raise ConfigError("must run as root (it creates users and writes /etc); try --dry-run")


async def install(request: Request, out: TextIO) -> Executor:
    _require_root(request)
    options = request.install
    system = _detect(request)
    shipped = samples()
    cfg = p.config(system, options, shipped)
    secrets = gather_secrets(system, cfg, options.database)
    plan = p.plan_install(system, options, shipped, secrets, cfg)
    manifest = Manifest.read(system.path(layout.MANIFEST))
    out.write(f"callback-desk install {__version__}: {system.describe()}\n")
    if manifest.existed and manifest.version != __version__:
        out.write(f"upgrade: {manifest.version} -> {__version__}\n")
    if options.dry_run:
        out.write("dry run: shows every change and makes none\n")
    executor = Executor(
        options.root,
        out,
        dry_run=options.dry_run,
        manifest=manifest,
        admin=_admin(request, system),
        secrets=secrets.values(),
    )
    try:
        await executor.run(plan)
    finally:
        executor.write_manifest()
    _summary(executor, out)
    _next_steps(system, cfg, out)
    if not options.dry_run and _started(executor):
        await _wait_for_services(cfg, out)
    return executor


def _started(executor: Executor) -> bool:
    return any(
        o.verb == "run"
        and o.subject.startswith(("systemctl enable --now", "systemctl try-restart"))
        for o in executor.outcomes
    )


async def _wait_for_services(cfg: p.Config, out: TextIO, seconds: float = 20.0) -> None:
    """Services just (re)started: give the FastAGI server a moment to listen before the doctor
    knocks, instead of reporting a start-up as a failure."""
    host = "127.0.0.1" if cfg.dialplan.host in ("0.0.0.0", "::", "") else cfg.dialplan.host
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        try:
            _reader, writer = await asyncio.open_connection(host, cfg.dialplan.port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        writer.close()
        await writer.wait_closed()
        return
    out.write(f"the FastAGI server did not listen on {host}:{cfg.dialplan.port} within "
              f"{seconds:g}s\n")  # fmt: skip


def _summary(executor: Executor, out: TextIO) -> None:
    counts: dict[str, int] = {}
    for outcome in executor.outcomes:
        counts[outcome.verb] = counts.get(outcome.verb, 0) + 1
    done = sum(counts.get(v, 0) for v in ("create", "change", "run", "remove"))
    unchanged = counts.get("unchanged", 0)
    if executor.dry_run:
        out.write(f"dry run: {done} changes to make, {unchanged} unchanged; nothing was "
                  "changed\n")  # fmt: skip
    elif done:
        out.write(f"{done} changes made, {unchanged} unchanged\n")
    else:
        out.write(f"nothing to do: all {unchanged} unchanged\n")


def _next_steps(system: System, cfg: p.Config, out: TextIO) -> None:
    agi = cfg.settings.section("agi")
    lines = []
    if not agi.text("callback_number", ""):
        lines.append(
            f"set [agi] callback_number in {layout.CONFIG} (the neutral number callees see; "
            "until then every callback is refused), then run callback-desk install again"
        )
    if system.pbx == "freepbx":
        lines.extend(_freepbx_cid(system, agi.text("callback_number", "")))
    lines.append(
        "the inbox listens on 127.0.0.1 only: put it behind TLS (deploy/nginx-callback-desk.conf)"
        " and add its users (callback-desk user add, see the documentation)"
    )
    for line in lines:
        out.write(f"next: {line}\n")


def _freepbx_cid(system: System, neutral: str) -> list[str]:
    """What FreePBX's generated dialplan says about the trunks' CID options."""
    path = system.path(system.asterisk_etc / freepbx.ADDITIONAL)
    try:
        forced = freepbx.defeating(path.read_text(errors="replace"), neutral)
    except OSError:
        return [
            "FreePBX: check the trunk callbacks leave on (Connectivity > Trunks > CID "
            "Options): 'Force Trunk CID' would show the trunk's number instead of the neutral one"
        ]
    return [
        f"FreePBX: trunk {f.trunk} forces caller ID {f.callerid} ('Force Trunk CID'): callbacks "
        "through it would show that, not the neutral number; set its CID Options to 'Allow Any "
        "CID' (Connectivity > Trunks), then Apply Config"
        for f in forced
    ]


async def uninstall(request: Request, out: TextIO) -> Executor:
    _require_root(request)
    options = request.install
    system = _detect(request)
    manifest = Manifest.read(system.path(layout.MANIFEST))
    if not manifest.existed and not request.drop_data:
        raise ConfigError(
            f"nothing to uninstall: no {system.path(layout.MANIFEST)} (install writes it)"
        )
    database = _database_of(system) or options.database
    plan = p.plan_uninstall(manifest.created, system, options, request.drop_data, database)
    out.write(f"callback-desk uninstall {__version__}: {system.describe()}\n")
    if options.dry_run:
        out.write("dry run: shows every change and makes none\n")
    executor = Executor(
        options.root,
        out,
        dry_run=options.dry_run,
        manifest=manifest,
        admin=_admin(request, system),
    )
    await executor.run(plan)
    manifest_path = system.path(layout.MANIFEST)
    if not options.dry_run and manifest_path.exists():
        # Kept beside files that stay (uninstall --drop-data removes them later), else gone.
        if all(f == manifest_path for f in manifest_path.parent.iterdir()):
            manifest_path.unlink()
            if manifest.has("dir", layout.ETC):
                manifest_path.parent.rmdir()
    _summary(executor, out)
    if executor.kept:
        out.write(f"kept: {'; '.join(executor.kept)}\n")
    return executor


def _database_of(system: System) -> str | None:
    """The database the installed config names (its DSN's path)."""
    if system.existing_config is None:
        return None
    try:
        cfg = p.read_config(system.existing_config, False, "the config")
    except ConfigError:
        return None
    dsn = urlsplit(cfg.settings.database.dsn.reveal())
    return dsn.path.lstrip("/") or None


def with_root(options: p.InstallOptions, root: Path) -> p.InstallOptions:
    return replace(options, root=root)
